namespace MoeServe.Model;

/// <summary>How router logits become expert scores.</summary>
public enum ScoreFunction
{
    /// <summary>Softmax over the experts of each token (JSON "softmax").</summary>
    Softmax,

    /// <summary>Element-wise sigmoid of each logit (JSON "sigmoid").</summary>
    Sigmoid,
}
