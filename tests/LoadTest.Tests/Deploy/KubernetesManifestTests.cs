using System.Text.Json.Nodes;
using MoeServe.LoadTest.Tests.Support;

namespace MoeServe.LoadTest.Tests.Deploy;

/// <summary>The Kubernetes manifests parse and agree with each other, the image and the server's options.</summary>
public sealed class KubernetesManifestTests
{
    private static readonly IReadOnlyList<(string File, JsonNode Document)> Manifests = YamlDocuments.LoadAll("deploy/kubernetes");

    private static JsonNode Kind(string kind) => Manifests.Single(m => (string?)m.Document["kind"] == kind).Document;

    private static JsonNode Container => Kind("Deployment")["spec"]!["template"]!["spec"]!["containers"]![0]!;

    private static IReadOnlyDictionary<string, string> Env =>
        Container["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => (string)e!["value"]!, StringComparer.Ordinal);

    [Fact]
    public void EveryYamlFile_UnderDeploy_ParsesAndEveryManifestHasApiVersionKindAndName()
    {
        var all = YamlDocuments.LoadAll("deploy");
        Assert.NotEmpty(all);
        foreach (var (file, doc) in Manifests)
        {
            Assert.False(string.IsNullOrEmpty((string?)doc["apiVersion"]), $"{file}: apiVersion");
            Assert.False(string.IsNullOrEmpty((string?)doc["kind"]), $"{file}: kind");
            if ((string?)doc["kind"] != "Kustomization")
            {
                Assert.Equal("moeserve", (string?)doc["metadata"]!["name"]);
            }
        }

        Assert.Equal(
            ["Deployment", "HorizontalPodAutoscaler", "Kustomization", "Service", "ServiceMonitor"],
            Manifests.Select(m => (string)m.Document["kind"]!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Kustomization_ListsEveryManifestFileThatExists()
    {
        var resources = Kind("Kustomization")["resources"]!.AsArray().Select(r => "deploy/kubernetes/" + (string)r!).Order(StringComparer.Ordinal).ToList();
        var files = Manifests.Select(m => m.File).Where(f => !f.EndsWith("kustomization.yaml", StringComparison.Ordinal)).Distinct().Order(StringComparer.Ordinal).ToList();

        Assert.Equal(files, resources);
    }

    [Fact]
    public void Deployment_RequestsAGpuAndProbesTheHealthEndpoints()
    {
        var container = Container;
        Assert.Equal("1", (string?)container["resources"]!["limits"]!["nvidia.com/gpu"]);
        Assert.Equal("/health/ready", (string?)container["readinessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("/health/live", (string?)container["livenessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("/health/live", (string?)container["startupProbe"]!["httpGet"]!["path"]);
        var port = container["ports"]!.AsArray().Single()!;
        Assert.Equal("8080", (string?)port["containerPort"]);
        foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
        {
            Assert.Equal((string?)port["name"], (string?)container[probe]!["httpGet"]!["port"]);
        }
    }

    [Fact]
    public void Deployment_EnvironmentNamesOnlyServerOptionsAndPicksCuda()
    {
        var unknown = Env.Keys.Where(k => k.StartsWith("MoeServe__", StringComparison.Ordinal) && !ServerOptionNames.IsOption(k)).ToList();

        Assert.True(unknown.Count == 0, $"not options of {ServerOptionNames.Source}: {string.Join(", ", unknown)}");
        Assert.Equal("cuda", Env["MoeServe__ExecutionProvider"]);
        Assert.Equal("http://+:8080", Env["ASPNETCORE_URLS"]);
        Assert.Equal(DockerfileEnv("gpu")["MoeServe__ModelPath"], Env["MoeServe__ModelPath"]);
    }

    [Fact]
    public void Deployment_RunsAsTheImagesNonRootUserAndOutlivesTheDrain()
    {
        var pod = Kind("Deployment")["spec"]!["template"]!["spec"]!;
        Assert.Equal("true", (string?)pod["securityContext"]!["runAsNonRoot"]);
        Assert.Equal("1654", (string?)pod["securityContext"]!["runAsUser"]);
        Assert.Equal("1654", new DockerfileModel(RepositoryPaths.Read("Dockerfile"))["gpu"].Arguments("USER").Single());

        var grace = int.Parse((string)pod["terminationGracePeriodSeconds"]!, System.Globalization.CultureInfo.InvariantCulture);
        var drain = double.Parse(Env["MoeServe__DrainTimeoutSeconds"], System.Globalization.CultureInfo.InvariantCulture);
        var preStop = int.Parse((string)Container["lifecycle"]!["preStop"]!["exec"]!["command"]![1]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(grace > drain + preStop, $"terminationGracePeriodSeconds {grace} must exceed drain {drain} + preStop {preStop}");
    }

    [Fact]
    public void PrometheusAnnotations_PointAtTheContainerPortAndMetricsPath()
    {
        var annotations = Kind("Deployment")["spec"]!["template"]!["metadata"]!["annotations"]!;
        Assert.Equal("true", (string?)annotations["prometheus.io/scrape"]);
        Assert.Equal((string?)Container["ports"]![0]!["containerPort"], (string?)annotations["prometheus.io/port"]);
        Assert.Equal("/metrics", (string?)annotations["prometheus.io/path"]);
    }

    [Fact]
    public void ServiceAndServiceMonitor_SelectTheDeploymentsPodsAndNamedPort()
    {
        var podLabels = Kind("Deployment")["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
        var service = Kind("Service");
        foreach (var (key, value) in service["spec"]!["selector"]!.AsObject())
        {
            Assert.Equal((string?)value, (string?)podLabels[key]);
        }

        var servicePort = service["spec"]!["ports"]![0]!;
        Assert.Equal((string?)Container["ports"]![0]!["name"], (string?)servicePort["targetPort"]);

        var monitor = Kind("ServiceMonitor");
        var serviceLabels = service["metadata"]!["labels"]!.AsObject();
        foreach (var (key, value) in monitor["spec"]!["selector"]!["matchLabels"]!.AsObject())
        {
            Assert.Equal((string?)value, (string?)serviceLabels[key]);
        }

        var endpoint = monitor["spec"]!["endpoints"]![0]!;
        Assert.Equal((string?)servicePort["name"], (string?)endpoint["port"]);
        Assert.Equal("/metrics", (string?)endpoint["path"]);
    }

    [Fact]
    public void Autoscaler_TargetsTheDeploymentOnWaitingRequestsPerPod()
    {
        var spec = Kind("HorizontalPodAutoscaler")["spec"]!;
        Assert.Equal("Deployment", (string?)spec["scaleTargetRef"]!["kind"]);
        Assert.Equal((string?)Kind("Deployment")["metadata"]!["name"], (string?)spec["scaleTargetRef"]!["name"]);
        var metric = spec["metrics"]![0]!;
        Assert.Equal("Pods", (string?)metric["type"]);
        Assert.Equal("AverageValue", (string?)metric["pods"]!["target"]!["type"]);

        var min = int.Parse((string)spec["minReplicas"]!, System.Globalization.CultureInfo.InvariantCulture);
        var max = int.Parse((string)spec["maxReplicas"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(min, 1, max);
        // Scale before the queue is full, or clients see 429 first.
        var target = double.Parse((string)metric["pods"]!["target"]!["averageValue"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(target < double.Parse(Env["MoeServe__MaxWaitingRequests"], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static IReadOnlyDictionary<string, string> DockerfileEnv(string stage) =>
        DockerfileModel.Environment(new DockerfileModel(RepositoryPaths.Read("Dockerfile"))[stage]);
}
