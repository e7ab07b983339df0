using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MoeServe.Router;
using MoeServe.Runtime;
using MoeServe.Server.Options;

namespace MoeServe.Server.Tests.Options;

public sealed class ServerOptionsTests : IDisposable
{
    private readonly string _modelDir = Directory.CreateTempSubdirectory("moeserve-opts-").FullName;

    public ServerOptionsTests() => File.WriteAllText(Path.Combine(_modelDir, "manifest.json"), "{}");

    public void Dispose() => Directory.Delete(_modelDir, true);

    // Through the registration the server uses: bound once, validated as ValidateOnStart validates.
    private static (ServerOptions Options, List<string> Errors) Load(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        using var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddServerOptions().BuildServiceProvider();
        try
        {
            var options = services.GetRequiredService<IOptions<ServerOptions>>().Value;
            Assert.Same(options, services.GetRequiredService<ServerOptions>());
            return (options, []);
        }
        catch (OptionsValidationException e)
        {
            return (new ServerOptions(), [.. e.Failures]);
        }
    }

    [Fact]
    public void Read_ValidValues_BindsEveryField()
    {
        var (options, errors) = Load(new()
        {
            ["MoeServe:ModelPath"] = _modelDir,
            ["MoeServe:MaxBatchSequences"] = "8",
            ["MoeServe:RoutingPolicy"] = "online-bip",
            ["MoeServe:DefaultTemperature"] = "0.5",
            ["MoeServe:Devices"] = "0,1",
            ["MoeServe:DeviceMap:0"] = "3=1",
        });

        Assert.Empty(errors);
        Assert.Equal(8, options.MaxBatchSequences);
        Assert.Equal(RoutingMethod.Bip, options.RoutingPolicy);
        Assert.Equal(0.5, options.DefaultTemperature);
        Assert.Equal(["0", "1"], options.Devices);
        Assert.Equal(["3=1"], options.DeviceMap);
    }

    [Theory]
    [InlineData("fastest")]
    [InlineData("lossfree")]
    public void Validate_UnknownRoutingPolicy_FailsStartNamingTheKnownNames(string name)
    {
        var (_, errors) = Load(new()
        {
            ["MoeServe:ModelPath"] = _modelDir,
            ["MoeServe:RoutingPolicy"] = name,
        });

        Assert.Equal([$"MoeServe:RoutingPolicy: '{name}' is not one of trained, online-bip, topk."], errors);
    }

    [Theory]
    [InlineData("-0.5")]
    [InlineData("17")]
    public void Validate_QScaleOutOfRange_NamesTheKey(string value)
    {
        var (_, errors) = Load(new()
        {
            ["MoeServe:ModelPath"] = _modelDir,
            ["MoeServe:QScale"] = value,
        });

        Assert.Equal([$"MoeServe:QScale must be a number in [0, 16], got {value}."], errors);
    }

    [Fact]
    public void Bind_QScale_ReachesTheRuntimeOptions()
    {
        var (options, errors) = Load(new()
        {
            ["MoeServe:ModelPath"] = _modelDir,
            ["MoeServe:QScale"] = "0.5",
        });

        Assert.Empty(errors);
        Assert.Equal(0.5, MoeServe.Server.Engine.RuntimeOptionsMapper.Map(options, null, TimeProvider.System).QScale);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("false", false)]
    [InlineData("true", true)]
    public void Bind_ShareSessionResources_ReachesTheRuntimeOptions(string? value, bool expected)
    {
        Assert.Equal(expected, MappedWith("ShareSessionResources", value).ShareSessionResources);
    }

    [Theory]
    [InlineData(null, KvCacheDType.Float16)]
    [InlineData("float32", KvCacheDType.Float32)]
    [InlineData("FLOAT16", KvCacheDType.Float16)]
    public void Bind_KvCacheDType_ReachesTheRuntimeOptions(string? value, KvCacheDType expected)
    {
        Assert.Equal(expected, MappedWith("KvCacheDType", value).KvCacheDType);
    }

    [Theory]
    [InlineData(null, KernelChoice.Auto)]
    [InlineData("onnx", KernelChoice.Onnx)]
    [InlineData("AUTO", KernelChoice.Auto)]
    public void Bind_Kernels_ReachesTheRuntimeOptions(string? value, KernelChoice expected)
    {
        Assert.Equal(expected, MappedWith("Kernels", value).Kernels);
    }

    // The runtime options the server maps from its configuration with MoeServe:KEY set (null: left out); binding must succeed.
    private MoeServe.Runtime.RuntimeOptions MappedWith(string key, string? value)
    {
        var settings = new Dictionary<string, string?> { ["MoeServe:ModelPath"] = _modelDir };
        if (value is not null)
        {
            settings["MoeServe:" + key] = value;
        }

        var (options, errors) = Load(settings);
        Assert.Empty(errors);
        return MoeServe.Server.Engine.RuntimeOptionsMapper.Map(options, null, TimeProvider.System);
    }

    [Theory]
    [InlineData("KvCacheDType", "float8", "float16, float32")]
    [InlineData("KvCacheDType", "1", "float16, float32")] // an enum's number is not a name
    [InlineData("Kernels", "managed", "auto, onnx")]
    [InlineData("Kernels", "0", "auto, onnx")]
    public void Bind_UnknownEnumName_NamesTheKeyAndTheChoices(string key, string value, string choices)
    {
        var (_, errors) = Load(new() { ["MoeServe:ModelPath"] = _modelDir, ["MoeServe:" + key] = value });

        var error = Assert.Single(errors);
        Assert.StartsWith("MoeServe:" + key, error, StringComparison.Ordinal);
        Assert.Contains(choices, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_RoutingPolicyNotServedSetInCode_Reported()
    {
        var errors = new List<string>();
        ServerOptionsValidator.Validate(new ServerOptions { ModelPath = _modelDir, RoutingPolicy = RoutingMethod.LossFree }, errors);

        Assert.Equal(["MoeServe:RoutingPolicy: 'lossfree' is not one of trained, online-bip, topk."], errors);
    }

    [Fact]
    public void Validate_ManyBadValues_ListsEveryError()
    {
        var (_, errors) = Load(new()
        {
            ["MoeServe:ModelPath"] = Path.Combine(_modelDir, "missing"),
            ["MoeServe:Workers"] = "0",
            ["MoeServe:MaxBatchSequences"] = "many",
            ["MoeServe:RoutingPolicy"] = "random",
            ["MoeServe:ExecutionProvider"] = "tpu",
            ["MoeServe:DefaultTopP"] = "1.5",
            ["MoeServe:DeviceMap"] = "x=1",
            ["MoeServe:Colour"] = "blue",
        });

        Assert.Equal(8, errors.Count);
        Assert.Contains(errors, e => e.Contains("ModelPath", StringComparison.Ordinal) && e.Contains("missing", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("MoeServe:Workers", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("MoeServe:MaxBatchSequences", StringComparison.Ordinal) && e.Contains("'many'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("MoeServe:RoutingPolicy", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("MoeServe:ExecutionProvider", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("MoeServe:DefaultTopP", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("MoeServe:DeviceMap", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("MoeServe:Colour", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_StepSmallerThanBatch_Reported()
    {
        var (_, errors) = Load(new()
        {
            ["MoeServe:ModelPath"] = _modelDir,
            ["MoeServe:MaxBatchSequences"] = "16",
            ["MoeServe:MaxStepTokens"] = "8",
        });

        Assert.Single(errors);
        Assert.Contains("MaxStepTokens", errors[0], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("3=1", true)]
    [InlineData("3 = 0", true)]
    [InlineData("3", false)]
    [InlineData("a=1", false)]
    [InlineData("1=-1", false)]
    public void DeviceMapEntry_TryParse_AcceptsOnlyExpertEqualsDevice(string text, bool valid) =>
        Assert.Equal(valid, DeviceMapEntry.TryParse(text, out _));
}
