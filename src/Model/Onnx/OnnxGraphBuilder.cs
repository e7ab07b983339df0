using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace MoeServe.Model.Onnx;

/// <summary>
/// Assembles one ONNX graph (opset 17, IR 8) node by node over the protobuf classes OnnxSharp ships.
/// Names are generated so callers only wire values together; weights become initializers, stored
/// float32 or float16 (then widened by a Cast that ONNX Runtime constant-folds at load).
/// </summary>
internal sealed class OnnxGraphBuilder
{
    /// <summary>ONNX IR version written into every model (IR 8 = ONNX 1.13+).</summary>
    public const long IrVersion = 8;

    /// <summary>Default-domain operator set the graphs use.</summary>
    public const long OpsetVersion = 17;

    private const int FloatType = (int)TensorProto.Types.DataType.Float;
    private const int Float16Type = (int)TensorProto.Types.DataType.Float16;
    private const int DoubleType = (int)TensorProto.Types.DataType.Double;
    private const int Int64Type = (int)TensorProto.Types.DataType.Int64;
    private const int Uint8Type = (int)TensorProto.Types.DataType.Uint8;

    /// <summary>ONNX Runtime's contrib-operator domain (MatMulNBits).</summary>
    public const string MicrosoftDomain = "com.microsoft";

    private readonly GraphProto _graph;
    private readonly TensorDType _weightType;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _counter;
    private bool _usesMicrosoftDomain;

    public OnnxGraphBuilder(string graphName, TensorDType weightType)
    {
        _graph = new GraphProto { Name = graphName };
        _weightType = weightType;
    }

    /// <summary>Declares a float input; each dimension is a fixed size (int) or a symbolic name (string).</summary>
    public string FloatInput(string name, params object[] dims) => Declare(_graph.Input, name, FloatType, dims);

    /// <summary>Declares an int64 input.</summary>
    public string Int64Input(string name, params object[] dims) => Declare(_graph.Input, name, Int64Type, dims);

    /// <summary>Declares a float output produced by the value <paramref name="value"/> (an Identity renames it when needed).</summary>
    public void FloatOutput(string name, string value, params object[] dims)
    {
        if (value != name)
        {
            Node("Identity", [value], [name]);
        }

        Declare(_graph.Output, name, FloatType, dims);
    }

    /// <summary>Adds a weight initializer in the builder's storage type (or float32 when <paramref name="keepFloat32"/>); returns the name of its float32 value.</summary>
    public string Weight(string name, int[] shape, ReadOnlySpan<float> values, bool keepFloat32 = false)
    {
        if (_weightType == TensorDType.Float32 || keepFloat32)
        {
            AddInitializer(Reserve(name), FloatType, shape, MemoryMarshal.AsBytes(values));
            return name;
        }

        return Node("Cast", [HalfInitializer(name, shape, values)], [Reserve(name)], ("to", (long)FloatType))[0];
    }

    /// <summary>
    /// Rows of a weight table picked by <paramref name="ids"/> (a Gather along axis 0), returned as float32. A
    /// float16 table is gathered first and only the picked rows are widened, so the session keeps the table
    /// at its stored size: a Cast before the Gather would be constant-folded into a float32 copy at load.
    /// </summary>
    public string GatherRows(string name, int[] shape, ReadOnlySpan<float> values, string ids)
    {
        if (_weightType == TensorDType.Float32)
        {
            return Op("Gather", [Weight(name, shape, values), ids], ("axis", 0L));
        }

        return Op("Cast", [Op("Gather", [HalfInitializer(name, shape, values), ids], ("axis", 0L))], ("to", (long)FloatType));
    }

    // The values as a float16 initializer named NAME_fp16; returns its name.
    private string HalfInitializer(string name, int[] shape, ReadOnlySpan<float> values)
    {
        var halves = new Half[values.Length];
        System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values, halves);
        return AddInitializer(Reserve(name + "_fp16"), Float16Type, shape, MemoryMarshal.AsBytes(halves.AsSpan()));
    }

    /// <summary>
    /// y = x W^T with W blockwise quantized: one com.microsoft MatMulNBits node over the packed codes,
    /// scales and optional zero points (initializers named <paramref name="name"/>_q, _scales, _zero_points).
    /// </summary>
    /// <param name="x">The float input [..., K].</param>
    /// <param name="name">Initializer name stem.</param>
    /// <param name="weight">The quantized weight [N, K].</param>
    /// <param name="accuracyLevel">MatMulNBits' accuracy_level.</param>
    public string QuantizedMatMul(string x, string name, MoeServe.Model.Quantization.BlockQuantizedMatrix weight, int accuracyLevel)
    {
        ArgumentNullException.ThrowIfNull(weight);
        string codes = AddInitializer(Reserve(name + "_q"), Uint8Type, [weight.N, weight.BlocksPerRow, weight.BlobSize], weight.Data);
        string scales = AddInitializer(Reserve(name + "_scales"), FloatType, [weight.Scales.Length], MemoryMarshal.AsBytes(weight.Scales.AsSpan()));
        string[] inputs = weight.ZeroPoints is null
            ? [x, codes, scales]
            : [x, codes, scales, AddInitializer(Reserve(name + "_zero_points"), Uint8Type, [weight.ZeroPoints.Length], weight.ZeroPoints)];
        _usesMicrosoftDomain = true;
        string output = Node(
            "MatMulNBits",
            inputs,
            [Fresh("matmulnbits")],
            ("K", (long)weight.K),
            ("N", (long)weight.N),
            ("bits", (long)weight.Bits),
            ("block_size", (long)weight.BlockSize),
            ("accuracy_level", (long)accuracyLevel))[0];
        _graph.Node[^1].Domain = MicrosoftDomain;
        return output;
    }

    /// <summary>Adds a float32 constant initializer (never narrowed: small and precision-relevant).</summary>
    public string FloatConstant(string hint, int[] shape, params float[] values) =>
        AddInitializer(Fresh(hint), FloatType, shape, MemoryMarshal.AsBytes(values.AsSpan()));

    /// <summary>Adds a float64 constant initializer.</summary>
    public string DoubleConstant(string hint, int[] shape, params double[] values) =>
        AddInitializer(Fresh(hint), DoubleType, shape, MemoryMarshal.AsBytes(values.AsSpan()));

    /// <summary>Adds a float32 scalar constant.</summary>
    public string Scalar(string hint, float value) => FloatConstant(hint, [], value);

    /// <summary>Adds an int64 constant (shapes, axes, slice bounds).</summary>
    public string Int64Constant(string hint, params long[] values) =>
        AddInitializer(Fresh(hint), Int64Type, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()));

    /// <summary>Adds a node with one output; returns the output's name.</summary>
    public string Op(string opType, string[] inputs, params (string Name, object Value)[] attributes) =>
        Node(opType, inputs, [Fresh(opType.ToLowerInvariant())], attributes)[0];

    /// <summary>Adds a node with the given outputs (fresh names when null); returns the output names.</summary>
    public string[] Node(string opType, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh(opType + "_node") };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        foreach (var (attrName, value) in attributes)
        {
            node.Attribute.Add(Attribute(attrName, value));
        }

        _graph.Node.Add(node);
        return outputs;
    }

    /// <summary>A fresh unique value name starting with <paramref name="hint"/>.</summary>
    public string Fresh(string hint)
    {
        string name;
        do
        {
            name = $"{hint}_{_counter++}";
        }
        while (!_names.Add(name));
        return name;
    }

    /// <summary>The finished model: IR 8, default-domain opset 17 (and com.microsoft 1 when a MatMulNBits node is in it), producer MoeServe.</summary>
    public ModelProto Build(string docString)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "MoeServe",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "0",
            DocString = docString,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = OpsetVersion });
        if (_usesMicrosoftDomain)
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }
        return model;
    }

    private string Reserve(string name)
    {
        if (!_names.Add(name))
        {
            throw new InvalidOperationException($"Duplicate ONNX value name '{name}'.");
        }

        return name;
    }

    private string Declare(Google.Protobuf.Collections.RepeatedField<ValueInfoProto> list, string name, int elemType, object[] dims)
    {
        if (list == _graph.Input)
        {
            Reserve(name);
        }

        var shape = new TensorShapeProto();
        foreach (object dim in dims)
        {
            shape.Dim.Add(dim switch
            {
                int size => new TensorShapeProto.Types.Dimension { DimValue = size },
                long size => new TensorShapeProto.Types.Dimension { DimValue = size },
                string symbol => new TensorShapeProto.Types.Dimension { DimParam = symbol },
                _ => throw new ArgumentException($"Dimension {dim} of '{name}' must be an int or a string.", nameof(dims)),
            });
        }

        list.Add(new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } },
        });
        return name;
    }

    private string AddInitializer(string name, int dataType, int[] shape, ReadOnlySpan<byte> raw)
    {
        var tensor = new TensorProto { Name = name, DataType = dataType, RawData = ByteString.CopyFrom(raw) };
        foreach (int dim in shape)
        {
            tensor.Dims.Add(dim);
        }

        _graph.Initializer.Add(tensor);
        return name;
    }

    private static AttributeProto Attribute(string name, object value) => value switch
    {
        long i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        int i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        float f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = f },
        long[] ints => IntsAttribute(name, ints),
        _ => throw new ArgumentException($"Unsupported attribute type {value.GetType().Name} for '{name}'.", nameof(value)),
    };

    private static AttributeProto IntsAttribute(string name, long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }
}
