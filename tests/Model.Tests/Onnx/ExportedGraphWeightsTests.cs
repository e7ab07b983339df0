using MoeServe.Model.Export;
using MoeServe.Model.Onnx;
using MoeServe.Model.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.Model.Tests.Onnx;

public sealed class ExportedGraphWeightsTests
{
    [Fact]
    public void Read_Float16Export_GivesEveryCheckpointTensorBackAsStored()
    {
        using var temp = new TempDirectory();
        var config = TinyCheckpoint.DefaultConfig;
        var layout = TinyCheckpoint.CreateRandom(temp.Sub("ckpt"), config, seed: 8);
        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = temp.Sub("out"), WeightType = TensorDType.Float16 });
        var checkpoint = SafeTensorsFile.Read(layout.WeightsPath);

        var weights = new ExportedGraphWeights(temp.Sub("out"));

        Assert.Empty(CheckpointTensorNames.Check(config, weights));
        foreach (var (name, shape) in CheckpointTensorNames.Expected(config))
        {
            var original = checkpoint.Get(name);
            var read = weights.Read(name);
            Assert.Equal(shape, read.Shape);
            bool float32 = MoeGraphFactory.StoredType(name, TensorDType.Float16) == TensorDType.Float32;
            for (int i = 0; i < original.Data.Length; i++)
            {
                // Float16-stored weights come back as their float16 rounding, the others exactly.
                float expected = float32 ? original.Data[i] : (float)(Half)original.Data[i];
                Assert.True(expected == read.Data[i], $"{name}[{i}]: expected {expected}, read {read.Data[i]}");
            }
        }
    }
}
