using MoeServe.Model;
using MoeServe.Model.Export;
using MoeServe.TestSupport;

namespace MoeServe.Server.Tests.Support;

/// <summary>
/// A random-weight model exported once per test run into a temp directory: the repository's tiny
/// configuration with a longer context (512), so streams last long enough to abort mid-way.
/// </summary>
public static class TinyServerModel
{
    private static readonly Lazy<string> Directory = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The model's served name.</summary>
    public const string Name = "tiny";

    /// <summary>Context length of the tiny model.</summary>
    public const int ContextLength = 512;

    /// <summary>The exported model directory (holding manifest.json).</summary>
    public static string Path => Directory.Value;

    private static string Create()
    {
        var root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "moeserve-server-tests", Guid.NewGuid().ToString("N"));
        var checkpoint = System.IO.Path.Combine(root, "checkpoint");
        var model = System.IO.Path.Combine(root, "model");
        var config = TinyCheckpoint.DefaultConfig with { ContextLength = ContextLength };
        TinyCheckpoint.CreateRandom(checkpoint, config, seed: 1234);
        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = checkpoint, OutputDirectory = model, WeightType = TensorDType.Float32, Name = Name });
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return model;
    }
}
