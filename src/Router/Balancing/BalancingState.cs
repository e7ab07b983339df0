using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeServe.Router;

/// <summary>
/// The balancing state of a model: one vector q per MoE layer (selection uses TopK(s - q); a
/// loss-free bias b is stored as q = -b) and the method that produced it. Training saves it as
/// <c>balancing.json</c> in the checkpoint; serving loads it and applies q frozen.
/// </summary>
/// <remarks>
/// <see cref="Layer"/> returns the live array that BIP / loss-free policies update in place. The
/// object is not synchronised: do not save it while a balancer on another thread is routing.
/// </remarks>
public sealed class BalancingState
{
    /// <summary>The checkpoint file name.</summary>
    public const string FileName = "balancing.json";

    /// <summary>The JSON format version this library writes and reads.</summary>
    public const int FormatVersion = 1;

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    private readonly float[][] _layers;

    /// <summary>Creates a zero state (q = 0 everywhere: plain top-K until updated).</summary>
    /// <param name="method">The method name ("bip", "lossfree", "topk", ...).</param>
    /// <param name="layers">Number of MoE layers (&gt;= 1).</param>
    /// <param name="experts">Experts per layer (&gt;= 1).</param>
    public BalancingState(string method, int layers, int experts)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(method);
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        Method = method;
        Experts = experts;
        _layers = new float[layers][];
        for (int l = 0; l < layers; l++)
        {
            _layers[l] = new float[experts];
        }
    }

    /// <summary>Creates a state from copies of the given per-layer vectors (all the same length).</summary>
    /// <param name="method">The method name.</param>
    /// <param name="layers">One q vector per layer.</param>
    public BalancingState(string method, IReadOnlyList<float[]> layers)
        : this(method, CheckLayers(layers), layers[0].Length)
    {
        for (int l = 0; l < layers.Count; l++)
        {
            if (layers[l].Length != Experts)
            {
                throw new ArgumentException($"layer {l} has {layers[l].Length} entries, layer 0 has {Experts}.", nameof(layers));
            }

            layers[l].CopyTo(_layers[l], 0);
        }
    }

    /// <summary>The method that produced this state.</summary>
    public string Method { get; }

    /// <summary>Experts per layer (length of each q).</summary>
    public int Experts { get; }

    /// <summary>Number of layers.</summary>
    public int LayerCount => _layers.Length;

    /// <summary>The live q vector of a layer (policies update it in place).</summary>
    /// <param name="layer">Layer index.</param>
    public float[] Layer(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, _layers.Length);
        return _layers[layer];
    }

    /// <summary>A deep copy (for example to run online BIP at serving without touching the loaded state).</summary>
    public BalancingState Clone() => new(Method, _layers);

    /// <summary>Serialises to the <c>balancing.json</c> format.</summary>
    public string ToJson() => JsonSerializer.Serialize(new StateDocument(FormatVersion, Method, Experts, _layers), JsonOptions);

    /// <summary>Parses the <c>balancing.json</c> format; every problem is listed in one exception.</summary>
    /// <param name="json">The JSON text.</param>
    /// <exception cref="InvalidDataException">The text is not a valid balancing state.</exception>
    public static BalancingState FromJson(string json)
    {
        StateDocument? doc;
        try
        {
            doc = JsonSerializer.Deserialize<StateDocument>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"balancing state is not valid JSON: {e.Message}", e);
        }

        if (doc is null)
        {
            throw new InvalidDataException("balancing state is empty.");
        }

        var errors = new List<string>();
        if (doc.FormatVersion != FormatVersion)
        {
            errors.Add($"formatVersion must be {FormatVersion} (got {doc.FormatVersion}).");
        }

        if (string.IsNullOrWhiteSpace(doc.Method))
        {
            errors.Add("method is missing.");
        }

        if (doc.Layers is null || doc.Layers.Length == 0)
        {
            errors.Add("layers is missing or empty.");
        }
        else
        {
            for (int l = 0; l < doc.Layers.Length; l++)
            {
                float[]? q = doc.Layers[l];
                if (q is null || q.Length != doc.Experts)
                {
                    errors.Add($"layers[{l}] must have experts = {doc.Experts} entries (got {q?.Length ?? 0}).");
                }
                else if (Array.Exists(q, v => !float.IsFinite(v)))
                {
                    errors.Add($"layers[{l}] contains a non-finite value.");
                }
            }
        }

        if (doc.Experts < 1)
        {
            errors.Add($"experts must be >= 1 (got {doc.Experts}).");
        }

        if (errors.Count > 0)
        {
            throw new InvalidDataException("Invalid balancing state: " + string.Join(" ", errors));
        }

        return new BalancingState(doc.Method!, doc.Layers!);
    }

    /// <summary>Writes the state to a file (atomically: a temporary file, then a rename).</summary>
    /// <param name="path">Destination path, usually <c>checkpoint/balancing.json</c>.</param>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string temp = path + ".tmp";
        File.WriteAllText(temp, ToJson());
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads a state written by <see cref="Save"/>.</summary>
    /// <param name="path">Source path.</param>
    public static BalancingState Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return FromJson(File.ReadAllText(path));
    }

    private static int CheckLayers(IReadOnlyList<float[]> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0 || layers[0] is null || layers[0].Length == 0)
        {
            throw new ArgumentException("At least one non-empty layer is required.", nameof(layers));
        }

        return layers.Count;
    }

    private sealed record StateDocument(int FormatVersion, string? Method, int Experts, float[][]? Layers);
}
