namespace MoeServe.Router;

/// <summary>Which selection policy a layer uses.</summary>
public enum RoutingMethod
{
    /// <summary>Plain top-K by s.</summary>
    TopK,

    /// <summary>Top-K by s - q with the layer's frozen q (serving a trained state).</summary>
    BiasedTopK,

    /// <summary>The BIP balancer (q updated every batch).</summary>
    Bip,

    /// <summary>The loss-free balancer (q = -b updated every batch).</summary>
    LossFree,
}

/// <summary>Everything needed to build a layer's routing policy. Validate lists every error at once.</summary>
public sealed record RouterOptions
{
    /// <summary>The selection policy.</summary>
    public RoutingMethod Method { get; init; } = RoutingMethod.TopK;

    /// <summary>Divide the k gates of a token by their sum (the model's config.renormalize).</summary>
    public bool Renormalize { get; init; } = true;

    /// <summary>Optional hard capacity factor (&gt;= 1): at most ceil(factor n k / m) tokens per expert.</summary>
    public double? CapacityFactor { get; init; }

    /// <summary>BIP options (used when <see cref="Method"/> is <see cref="RoutingMethod.Bip"/>).</summary>
    public BipOptions Bip { get; init; } = new();

    /// <summary>Loss-free options (used when <see cref="Method"/> is <see cref="RoutingMethod.LossFree"/>).</summary>
    public LossFreeOptions LossFree { get; init; } = new();

    /// <summary>Every problem with these options (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(Method))
        {
            errors.Add($"method has unknown value {Method}.");
        }

        if (CapacityFactor is double f && (!double.IsFinite(f) || f < 1.0))
        {
            errors.Add($"capacityFactor must be a finite number >= 1 (got {f}).");
        }

        NestedOptionErrors.Add(errors, "bip", Bip?.Validate());
        NestedOptionErrors.Add(errors, "lossFree", LossFree?.Validate());

        return errors;
    }

    /// <summary>Throws <see cref="RouterOptionsException"/> listing every problem, if any.</summary>
    public void ThrowIfInvalid()
    {
        RouterOptionsException.ThrowIfAny(Validate());
    }
}

/// <summary>Invalid router options; <see cref="Errors"/> lists every problem found.</summary>
public sealed class RouterOptionsException : ArgumentException
{
    /// <summary>Creates the exception from a list of problems.</summary>
    /// <param name="errors">Every problem found.</param>
    public RouterOptionsException(IReadOnlyList<string> errors)
        : base("Invalid router options: " + string.Join(" ", errors ?? []))
    {
        Errors = errors ?? [];
    }

    /// <summary>Throws the exception when <paramref name="errors"/> lists any problem (every options type's check ends here).</summary>
    /// <param name="errors">The problems found, possibly none.</param>
    public static void ThrowIfAny(IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (errors.Count > 0)
        {
            throw new RouterOptionsException(errors);
        }
    }

    /// <summary>Creates the exception with a single message.</summary>
    public RouterOptionsException()
        : this(["unknown error"])
    {
    }

    /// <summary>Creates the exception with a single message.</summary>
    /// <param name="message">The problem.</param>
    public RouterOptionsException(string message)
        : this([message])
    {
    }

    /// <summary>Creates the exception with a single message and an inner exception.</summary>
    /// <param name="message">The problem.</param>
    /// <param name="innerException">The cause.</param>
    public RouterOptionsException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [message];
    }

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<string> Errors { get; }
}
