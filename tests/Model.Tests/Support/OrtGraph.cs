using Microsoft.ML.OnnxRuntime;

namespace MoeServe.Model.Tests.Support;

/// <summary>One ONNX Runtime session over an exported graph; runs with float/int64 arrays in and out.</summary>
internal sealed class OrtGraph : IDisposable
{
    private readonly InferenceSession _session;

    public OrtGraph(string path)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _session = new InferenceSession(path, options);
    }

    public IReadOnlyList<string> InputNames => _session.InputNames;

    public IReadOnlyList<string> OutputNames => _session.OutputNames;

    public IReadOnlyDictionary<string, NodeMetadata> InputMetadata => _session.InputMetadata;

    public IReadOnlyDictionary<string, NodeMetadata> OutputMetadata => _session.OutputMetadata;

    public Dictionary<string, (float[] Data, long[] Shape)> Run(params (string Name, Array Data, long[] Shape)[] inputs)
    {
        var values = new List<OrtValue>();
        try
        {
            foreach (var (_, data, shape) in inputs)
            {
                values.Add(data switch
                {
                    float[] f => OrtValue.CreateTensorValueFromMemory(f, shape),
                    long[] l => OrtValue.CreateTensorValueFromMemory(l, shape),
                    _ => throw new ArgumentException("float[] or long[] inputs only"),
                });
            }

            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, _session.OutputNames);
            var result = new Dictionary<string, (float[], long[])>();
            for (int i = 0; i < outputs.Count; i++)
            {
                var info = outputs[i].GetTensorTypeAndShape();
                result[_session.OutputNames[i]] = (outputs[i].GetTensorDataAsSpan<float>().ToArray(), info.Shape);
            }

            return result;
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    public void Dispose() => _session.Dispose();
}
