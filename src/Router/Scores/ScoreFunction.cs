namespace MoeServe.Router;

/// <summary>How router logits become router scores s (config.json and manifest.json name it "softmax" or "sigmoid").</summary>
public enum ScoreFunction
{
    /// <summary>Softmax over the experts of each token (scores of a token sum to 1).</summary>
    Softmax,

    /// <summary>Element-wise logistic sigmoid (each score in (0, 1) independently).</summary>
    Sigmoid,
}
