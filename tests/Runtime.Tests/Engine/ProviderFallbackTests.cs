using Microsoft.ML.OnnxRuntime;
using MoeServe.Runtime.Sessions;
using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Engine;

public sealed class ProviderFallbackTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly int[] Prompt = [10, 20, 30, 40, 50, 60];

    [Theory]
    [InlineData(ExecutionProviderKind.Cuda)]
    [InlineData(ExecutionProviderKind.Auto)]
    public void Load_CudaRequestedWithoutCudaLibraries_FallsBackToCpuReportsItAndServesIdenticalOutput(ExecutionProviderKind provider)
    {
        // This machine has the GPU build of ONNX Runtime but no CUDA 13 libraries: appending the CUDA
        // provider throws, and the engine must load anyway on the CPU provider.
        var model = fixture.Model;
        using var cpu = MoeEngine.Load(model.Options());
        using var cuda = MoeEngine.Load(model.Options(o => o with { ExecutionProvider = provider, Devices = [0, 1] }));

        Assert.Equal(2, cuda.Devices.Count);
        foreach (var device in cuda.Devices)
        {
            Assert.Equal(provider, device.Requested);
            Assert.Equal(DeviceReport.CpuProvider, device.ProviderUsed);
            Assert.True(device.FellBack);
            Assert.False(string.IsNullOrWhiteSpace(device.FallbackReason));
        }

        Assert.Equal(model.Config.Layers * model.Config.Experts, cuda.Devices.Sum(d => d.ExpertsPlaced));
        Assert.Equal(Forward(cpu), Forward(cuda));
    }

    [Fact]
    public void Load_CpuRequested_ReportsCpuWithoutFallback()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var device = Assert.Single(engine.Devices);
        Assert.Equal(DeviceReport.CpuProvider, device.ProviderUsed);
        Assert.False(device.FellBack);
        Assert.Null(device.FallbackReason);
    }

    [Fact]
    public void Load_CudaAppendSucceedsButSessionCreationFails_FallsBackPerDevice()
    {
        // A probe that "appends" a provider ONNX Runtime cannot create sessions with is simulated by
        // appending one that does not exist on this build.
        using var engine = MoeEngine.Load(fixture.Model.Options(o => o with { ExecutionProvider = ExecutionProviderKind.Cuda }), null, new ThrowingProbe());
        Assert.All(engine.Devices, d => Assert.Contains("simulated", d.FallbackReason, StringComparison.Ordinal));
    }

    [Fact]
    public void Load_ExpertDeviceMap_PlacesExpertsAsMapped()
    {
        var model = fixture.Model;
        using var engine = MoeEngine.Load(model.Options(o => o with
        {
            ExecutionProvider = ExecutionProviderKind.Auto,
            Devices = [0, 1],
            ExpertDeviceMap = new Dictionary<int, int> { [0] = 1, [1] = 1, [2] = 1, [3] = 1 },
        }));
        Assert.Equal(0, engine.Devices.Single(d => d.DeviceId == 0).ExpertsPlaced);
        Assert.Equal(model.Config.Layers * 4, engine.Devices.Single(d => d.DeviceId == 1).ExpertsPlaced);
    }

    [Fact]
    public void Load_ExpertDeviceMapNamesUnknownExpertAndDevice_ListsBothErrors()
    {
        var ex = Assert.Throws<ArgumentException>(() => MoeEngine.Load(fixture.Model.Options(o => o with
        {
            ExpertDeviceMap = new Dictionary<int, int> { [99] = 0, [0] = 5 },
        })));
        Assert.Contains("expert 99 does not exist", ex.Message, StringComparison.Ordinal);
        Assert.Contains("device 5", ex.Message, StringComparison.Ordinal);
    }

    private static float[] Forward(MoeEngine engine)
    {
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, Prompt)], logits);
        engine.Forward([new ForwardItem(cache, new[] { 1 })], logits);
        return logits;
    }

    private sealed class ThrowingProbe : ICudaProbe
    {
        public void Append(SessionOptions options, int deviceId) => throw new InvalidOperationException($"simulated: no CUDA device {deviceId}");
    }
}
