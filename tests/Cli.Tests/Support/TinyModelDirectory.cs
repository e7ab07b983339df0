using MoeServe.Model;
using MoeServe.Model.Export;
using MoeServe.TestSupport;

namespace MoeServe.Cli.Tests.Support;

/// <summary>
/// A random-weight small model exported once per test class into a temporary folder; its experts are
/// wide enough (d 128, hidden 256) that an extra token measurably costs time.
/// </summary>
public sealed class TinyModelDirectory : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-cli-tests-" + Guid.NewGuid().ToString("N"));

    public TinyModelDirectory()
    {
        string checkpoint = Path.Combine(_root, "checkpoint");
        Model = Path.Combine(_root, "model");
        TinyCheckpoint.CreateRandom(checkpoint, TinyCheckpoint.DefaultConfig with { DModel = 128, ExpertHidden = 256, ContextLength = 64 }, seed: 11);
        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = checkpoint, OutputDirectory = Model, WeightType = TensorDType.Float32, Name = "tiny" });
    }

    /// <summary>The exported model directory.</summary>
    public string Model { get; }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
