using MoeServe.Training.Native;

namespace MoeServe.Training.Tests;

public sealed class NativeCompatibilityTests
{
    private static string ShippedLibrary => Path.Combine(AppContext.BaseDirectory, LibTorchSharpCompatibility.LibraryFileName);

    /// <summary>A copy of the shim with the GLIBCXX_3.4.32 need forced back to strong, as NuGet ships it.</summary>
    private static string UnpatchedCopy()
    {
        string copy = Path.Combine(Path.GetTempPath(), "moeserve-elf-" + Guid.NewGuid().ToString("N") + ".so");
        byte[] image = File.ReadAllBytes(ShippedLibrary);
        foreach (var need in ElfSymbolVersions.Parse(image).Needs.Where(n => n.Name == "GLIBCXX_3.4.32"))
        {
            image[need.FlagsOffset] &= unchecked((byte)~ElfVersionNeed.WeakFlag);
        }

        File.WriteAllBytes(copy, image);
        return copy;
    }

    [Fact]
    public void Read_SystemLibStdCxx_DefinesGlibcxxVersions()
    {
        string? libStdCxx = LibTorchSharpCompatibility.FindSystemLibStdCxx();
        Assert.NotNull(libStdCxx);
        var definitions = ElfSymbolVersions.Read(libStdCxx).Definitions;
        Assert.Contains("GLIBCXX_3.4", definitions);
        Assert.Contains("CXXABI_1.3", definitions);
    }

    [Fact]
    public void MissingVersions_ShippedShimAgainstThisSystem_AreExactlyThoseTheSystemLacks()
    {
        string copy = UnpatchedCopy();
        try
        {
            var system = ElfSymbolVersions.Read(LibTorchSharpCompatibility.FindSystemLibStdCxx()!).Definitions;
            var shim = ElfSymbolVersions.Read(copy);
            var missing = LibTorchSharpCompatibility.MissingVersions(shim, system);
            var expected = shim.Needs.Where(n => n.File == "libstdc++.so.6" && !system.Contains(n.Name)).Select(n => n.Name);
            Assert.Equal(expected, missing.Select(n => n.Name));
            Assert.Contains(shim.Needs, n => n.Name == "GLIBCXX_3.4.32" && !n.IsWeak);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void Apply_SystemLacksVersion_MarksOnlyThatNeedWeakAndIsIdempotent()
    {
        string copy = UnpatchedCopy();
        try
        {
            var provided = ElfSymbolVersions.Read(copy).Needs.Select(n => n.Name).Where(n => n != "GLIBCXX_3.4.32").ToList();
            byte[] before = File.ReadAllBytes(copy);
            var report = LibTorchSharpCompatibility.Apply(copy, provided);
            Assert.Equal(CompatibilityOutcome.Patched, report.Outcome);
            Assert.Equal(["GLIBCXX_3.4.32"], report.WeakenedVersions);

            byte[] after = File.ReadAllBytes(copy);
            var needs = ElfSymbolVersions.Parse(after).Needs;
            Assert.True(needs.Single(n => n.Name == "GLIBCXX_3.4.32").IsWeak);
            Assert.All(needs.Where(n => n.Name != "GLIBCXX_3.4.32"), n => Assert.Equal(before.Length, after.Length));
            int changedBytes = before.Zip(after).Count(p => p.First != p.Second);
            Assert.Equal(1, changedBytes);

            Assert.Equal(CompatibilityOutcome.AlreadyPatched, LibTorchSharpCompatibility.Apply(copy, provided).Outcome);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void Apply_SystemHasVersion_LeavesFileUntouched()
    {
        string copy = UnpatchedCopy();
        try
        {
            var provided = ElfSymbolVersions.Read(copy).Needs.Select(n => n.Name).ToList();
            byte[] before = File.ReadAllBytes(copy);
            Assert.Equal(CompatibilityOutcome.NotNeeded, LibTorchSharpCompatibility.Apply(copy, provided).Outcome);
            Assert.Equal(before, File.ReadAllBytes(copy));
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void MissingVersions_UnknownVersionMissing_ThrowsNamingIt()
    {
        string copy = UnpatchedCopy();
        try
        {
            var shim = ElfSymbolVersions.Read(copy);
            var provided = shim.Needs.Select(n => n.Name).Where(n => n is not "GLIBCXX_3.4.30" and not "GLIBCXX_3.4.32").ToList();
            var error = Assert.Throws<PlatformNotSupportedException>(() => LibTorchSharpCompatibility.MissingVersions(shim, provided));
            Assert.Contains("GLIBCXX_3.4.30", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void EnsureLoadable_ThisProcess_TorchWorksAfterwards()
    {
        var report = LibTorchSharpCompatibility.EnsureLoadable();
        Assert.NotEqual(CompatibilityOutcome.NotApplicable, report.Outcome);
        using var sum = TorchSharp.torch.ones(3).sum();
        Assert.Equal(3f, sum.item<float>());
    }

    [Fact]
    public void Parse_NotElf_ThrowsInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => ElfSymbolVersions.Parse(new byte[100]));
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("1", true)]
    [InlineData("0", false)]
    public void MallocTuning_ControlVariable_DecidesWhetherToTune(string? control, bool expected)
    {
        Assert.Equal(expected && OperatingSystem.IsLinux(), MallocTuning.ShouldApply(control));
    }

    [Fact]
    public void MallocTuning_Apply_OnGlibc_AcceptsEverySetting()
    {
        var log = new StringWriter();
        MallocTuning.Apply(log);
        Assert.Contains("allocator:", log.ToString(), StringComparison.Ordinal);
        if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable(MallocTuning.ControlVariable) != "0")
        {
            Assert.True(MallocTuning.IsActive, log.ToString());
            Assert.Equal("glibc (tuned)", MallocTuning.Description);
        }
    }
}
