using System.Globalization;
using MoeServe.Model;

namespace MoeServe.Runtime.Sampling;

/// <summary>How the next token is drawn and when generation stops.</summary>
public sealed record SamplingParameters
{
    /// <summary>Softmax temperature; 0 means greedy (arg-max). Default 1.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches TopP. 1 keeps all. Default 1.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Keep only the TopK most likely tokens; 0 keeps all. Default 0.</summary>
    public int TopK { get; init; }

    /// <summary>Seed of the request's random generator; null draws one.</summary>
    public int? Seed { get; init; }

    /// <summary>Most tokens to generate. Default 16 (the OpenAI default).</summary>
    public int MaxTokens { get; init; } = 16;

    /// <summary>Generation stops before the first occurrence of any of these strings in the output text.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Number of most likely alternatives to report with each token's log-probability (0 to 20). Default 0.</summary>
    public int TopLogprobs { get; init; }

    /// <summary>Whether sampling the end-of-text token ends generation (finish reason "stop"). Default true.</summary>
    public bool StopAtEndOfText { get; init; } = true;

    /// <summary>Whether this is greedy decoding.</summary>
    public bool IsGreedy => Temperature == 0;

    /// <summary>Every problem, each naming its field (snake_case names as the HTTP API spells them).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!(Temperature >= 0 && Temperature <= 100) || double.IsNaN(Temperature))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"temperature must be in [0, 100], got {Temperature}."));
        }

        if (!(TopP > 0 && TopP <= 1))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"top_p must be in (0, 1], got {TopP}."));
        }

        if (TopK < 0)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"top_k must be >= 0 (0 = all), got {TopK}."));
        }

        if (MaxTokens < 1)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"max_tokens must be >= 1, got {MaxTokens}."));
        }

        if (TopLogprobs < 0 || TopLogprobs > 20)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"logprobs must be in [0, 20], got {TopLogprobs}."));
        }

        if (Stop is null)
        {
            errors.Add("stop must not be null.");
        }
        else
        {
            if (Stop.Count > 16)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"stop may list at most 16 strings, got {Stop.Count}."));
            }

            if (Stop.Any(string.IsNullOrEmpty))
            {
                errors.Add("stop strings must not be empty.");
            }
        }

        return errors;
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every problem, if any.</summary>
    public void EnsureValid()
    {
        ErrorList.ThrowInvalidArgumentIfAny("Invalid sampling parameters", Validate());
    }

    /// <summary>A seeded random generator for one request (Seed, or a fresh seed when null).</summary>
    public Random CreateRandom() => Seed is int seed ? new Random(seed) : new Random();
}
