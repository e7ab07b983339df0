using System.Xml.Linq;
using MoeServe.LoadTest.Tests.Support;

namespace MoeServe.LoadTest.Tests.Container;

/// <summary>
/// What can be checked of the Dockerfile without a Docker engine: its stages and variants, that
/// the paths it copies exist and survive .dockerignore, that it restores every project the server
/// needs, and that its runtime stages run as a non-root user with the health check and port the
/// server serves. deploy/check-image.sh also runs its publish command.
/// </summary>
public sealed partial class DockerfileTests
{
    private static readonly DockerfileModel Dockerfile = new(RepositoryPaths.Read("Dockerfile"));
    private static readonly DockerIgnore Ignore = new(RepositoryPaths.Read(".dockerignore"));

    public static TheoryData<string> RuntimeStages() => ["cpu", "gpu"];

    [Fact]
    public void Stages_BuildCpuGpuAndFinal_FinalChosenByVariantDefaultingToCpu()
    {
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:", Dockerfile["build"].Base, StringComparison.Ordinal);
        Assert.Equal("aspnet", Dockerfile["cpu"].Base);
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:", Dockerfile["aspnet"].Base, StringComparison.Ordinal);
        Assert.Equal("${CUDA_IMAGE}", Dockerfile["gpu"].Base);
        Assert.Matches(@"^nvidia/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu24\.04$", Dockerfile.GlobalArgs["CUDA_IMAGE"]);
        Assert.Equal("${VARIANT}", Dockerfile.Stages[^1].Base);
        Assert.Equal("cpu", Dockerfile.GlobalArgs["VARIANT"]);
    }

    [Fact]
    public void BuildStage_PublishesTheServerProjectInRelease()
    {
        var publish = Assert.Single(Dockerfile["build"].Arguments("RUN"), r => r.StartsWith("dotnet publish", StringComparison.Ordinal));
        var project = publish.Split(' ')[2];

        Assert.True(File.Exists(RepositoryPaths.Of(project)), $"{project} does not exist");
        Assert.Equal("src/Server/MoeServe.Server.csproj", project);
        Assert.Contains("-c Release", publish, StringComparison.Ordinal);
        Assert.Contains("-o /app", publish, StringComparison.Ordinal);
    }

    [Fact]
    public void ContextCopies_EveryCopiedSourcePathExistsAndIsNotDockerIgnored()
    {
        var problems = new List<string>();
        foreach (var stage in Dockerfile.Stages)
        {
            foreach (var (sources, _) in DockerfileModel.ContextCopies(stage))
            {
                // The model has its own test below, with a message that says where it comes from.
                foreach (var source in sources.Where(s => !s.StartsWith("models/", StringComparison.Ordinal)))
                {
                    var path = RepositoryPaths.Of(source.TrimEnd('/'));
                    if (!File.Exists(path) && !Directory.Exists(path))
                    {
                        problems.Add($"{stage.Name}: {source} does not exist");
                    }
                    else if (Ignore.Excludes(source))
                    {
                        problems.Add($"{stage.Name}: {source} is excluded by .dockerignore");
                    }
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void RestoreLayer_CopiesEveryProjectTheServerReferences()
    {
        var copied = DockerfileModel.ContextCopies(Dockerfile["build"]).SelectMany(c => c.Sources).Where(s => s.EndsWith(".csproj", StringComparison.Ordinal)).ToHashSet();
        var needed = ProjectClosure("src/Server/MoeServe.Server.csproj");

        Assert.Equal(needed.Order(StringComparer.Ordinal), copied.Order(StringComparer.Ordinal));
        foreach (var shared in new[] { "global.json", "Directory.Build.props", "Directory.Packages.props" })
        {
            Assert.Contains(shared, DockerfileModel.ContextCopies(Dockerfile["build"]).SelectMany(c => c.Sources));
        }
    }

    [Fact]
    public void DefaultModel_TheImageCopiesIt_IsCommittedWithItsManifest()
    {
        foreach (var name in new[] { "cpu", "gpu" })
        {
            Assert.Contains(DockerfileModel.ContextCopies(Dockerfile[name]), c => c.Sources.Contains("models/default"));
        }

        Assert.False(Ignore.Excludes("models/default/manifest.json"));
        Assert.True(
            File.Exists(RepositoryPaths.Of("models/default/manifest.json")),
            "models/default/manifest.json is missing: the image bakes in the default model, which training + export (issue 4) commit there.");
    }

    [Theory]
    [InlineData("src/Server/MoeServe.Server.csproj", false)]
    [InlineData("src/Runtime/Sessions/Any.cs", false)]
    [InlineData("models/default/manifest.json", false)]
    [InlineData("src/Server/bin/Release/net10.0/MoeServe.Server.dll", true)]
    [InlineData("src/Runtime/obj/project.assets.json", true)]
    [InlineData("models/experiment/manifest.json", true)]
    [InlineData("tests/Server.Tests/Any.cs", true)]
    [InlineData(".git/HEAD", true)]
    public void DockerIgnore_KeepsSourcesAndTheDefaultModel_DropsBuildOutputAndOtherModels(string path, bool excluded)
    {
        Assert.Equal(excluded, Ignore.Excludes(path));
    }

    [Theory]
    [MemberData(nameof(RuntimeStages))]
    public void RuntimeStage_RunsTheServerAsNonRootWithHealthCheckOnReady(string name)
    {
        var stage = Dockerfile[name];
        var user = Assert.Single(stage.Arguments("USER"));
        Assert.DoesNotMatch(@"^(root|0)(:|$)", user);

        Assert.Equal("8080", Assert.Single(stage.Arguments("EXPOSE")));
        var healthcheck = Assert.Single(stage.Arguments("HEALTHCHECK"));
        Assert.Contains("http://localhost:8080/health/ready", healthcheck, StringComparison.Ordinal);

        var assembly = XDocument.Load(RepositoryPaths.Of("src/Server/MoeServe.Server.csproj")).Descendants("AssemblyName").Single().Value;
        Assert.Equal($"[\"dotnet\", \"{assembly}.dll\"]", Assert.Single(stage.Arguments("ENTRYPOINT")));
        Assert.Contains(stage.Arguments("COPY"), c => c == "--from=build /app ./");
    }

    [Theory]
    [MemberData(nameof(RuntimeStages))]
    public void RuntimeStage_ConfiguresTheServerThroughItsOptionVariables(string name)
    {
        var stage = Dockerfile[name];
        var env = DockerfileModel.Environment(stage);

        var unknown = env.Keys.Where(k => k.StartsWith("MoeServe__", StringComparison.Ordinal) && !ServerOptionNames.IsOption(k)).ToList();
        Assert.True(unknown.Count == 0, $"not options of {ServerOptionNames.Source}: {string.Join(", ", unknown)}");
        Assert.Equal("http://+:8080", env["ASPNETCORE_URLS"]);
        Assert.Equal(name == "gpu" ? "cuda" : "cpu", env["MoeServe__ExecutionProvider"]);

        // The model the image carries is the one the server is told to load.
        var (sources, destination) = Assert.Single(DockerfileModel.ContextCopies(stage), c => c.Sources.Contains("models/default"));
        Assert.Equal("/app/models/default", env["MoeServe__ModelPath"]);
        Assert.Equal("./models/default", destination);
        Assert.Equal("/app", Assert.Single(stage.Arguments("WORKDIR")));
        Assert.Single(sources);
    }

    /// <summary>The project and every project it references, transitively, as repository paths.</summary>
    private static HashSet<string> ProjectClosure(string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([project]);
        while (pending.TryPop(out var current))
        {
            if (!seen.Add(current))
            {
                continue;
            }

            var directory = Path.GetDirectoryName(current)!;
            foreach (var reference in XDocument.Load(RepositoryPaths.Of(current)).Descendants("ProjectReference"))
            {
                var full = Path.GetFullPath(Path.Combine(RepositoryPaths.Of(directory), reference.Attribute("Include")!.Value));
                pending.Push(Path.GetRelativePath(RepositoryPaths.Root, full).Replace(Path.DirectorySeparatorChar, '/'));
            }
        }

        return seen;
    }
}
