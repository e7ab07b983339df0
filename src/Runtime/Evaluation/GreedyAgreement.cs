using System.Numerics.Tensors;

namespace MoeServe.Runtime.Evaluation;

/// <summary>
/// How often a model (e.g. a quantized one) picks the same greedy tokens as a reference model (its float
/// twin) from the same prompts: position by position over both free-running continuations, the common
/// prefix, and teacher-forced (the model's argmax after each prefix of the reference's continuation,
/// which one early difference cannot derail).
/// </summary>
public sealed class GreedyAgreement
{
    private readonly MoeEngine _model;
    private readonly MoeEngine _reference;

    /// <summary>Compares <paramref name="model"/> against <paramref name="reference"/> (neither owned).</summary>
    /// <param name="model">The model under test.</param>
    /// <param name="reference">The model it should agree with; same vocabulary.</param>
    public GreedyAgreement(MoeEngine model, MoeEngine reference)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(reference);
        if (model.VocabSize != reference.VocabSize)
        {
            throw new ArgumentException($"The models' vocabularies differ ({model.VocabSize} vs {reference.VocabSize}).", nameof(reference));
        }

        _model = model;
        _reference = reference;
    }

    /// <summary>Generates <paramref name="tokens"/> greedy tokens after each prompt with both models and compares.</summary>
    /// <param name="prompts">Prompt token ids (each non-empty).</param>
    /// <param name="tokens">Tokens to generate per prompt; prompt + tokens must fit both context lengths.</param>
    /// <param name="cancellationToken">Checked between prompts.</param>
    public AgreementResult Measure(IReadOnlyList<int[]> prompts, int tokens, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        int context = Math.Min(_model.ContextLength, _reference.ContextLength);
        if (prompts.Any(p => p.Length == 0 || p.Length + tokens > context))
        {
            throw new ArgumentException($"Every prompt needs at least one token and prompt + {tokens} generated tokens must fit the context length {context}.", nameof(prompts));
        }

        int positions = 0;
        int matching = 0;
        int forced = 0;
        var prefixes = new List<int>();
        foreach (int[] prompt in prompts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int[] expected = Greedy(_reference, prompt, tokens);
            int[] actual = Greedy(_model, prompt, tokens);
            int prefix = 0;
            while (prefix < tokens && expected[prefix] == actual[prefix])
            {
                prefix++;
            }

            prefixes.Add(prefix);
            positions += tokens;
            matching += expected.Zip(actual).Count(p => p.First == p.Second);
            forced += TeacherForcedMatches(prompt, expected);
        }

        return new AgreementResult(prompts.Count, positions, matching, forced, prefixes);
    }

    // The model's argmax after prompt + expected[..i], for every i, in one all-positions forward pass.
    private int TeacherForcedMatches(int[] prompt, int[] expected)
    {
        int vocab = _model.VocabSize;
        int[] sequence = [.. prompt, .. expected.AsSpan(0, expected.Length - 1)];
        float[] logits = new float[sequence.Length * vocab];
        using var cache = _model.CreateCache();
        _model.ForwardAllPositions([new ForwardItem(cache, sequence)], logits);
        int matches = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int row = prompt.Length - 1 + i;
            if (TensorPrimitives.IndexOfMax(logits.AsSpan(row * vocab, vocab)) == expected[i])
            {
                matches++;
            }
        }

        return matches;
    }

    private static int[] Greedy(MoeEngine engine, int[] prompt, int tokens)
    {
        float[] logits = new float[engine.VocabSize];
        int[] next = new int[1];
        int[] generated = new int[tokens];
        using var cache = engine.CreateCache();
        engine.Forward([new ForwardItem(cache, prompt)], logits);
        for (int i = 0; i < tokens; i++)
        {
            generated[i] = TensorPrimitives.IndexOfMax(logits);
            if (i + 1 < tokens)
            {
                next[0] = generated[i];
                engine.Forward([new ForwardItem(cache, next)], logits);
            }
        }

        return generated;
    }
}

/// <summary>The outcome of <see cref="GreedyAgreement.Measure"/>.</summary>
/// <param name="Prompts">Prompts compared.</param>
/// <param name="Tokens">Generated positions compared (prompts x tokens).</param>
/// <param name="MatchingTokens">Positions where both free-running continuations hold the same token.</param>
/// <param name="TeacherForcedMatches">Positions where the model's argmax, given the reference's continuation so far, is the reference's next token.</param>
/// <param name="CommonPrefixes">Per prompt, how many generated tokens agree before the first difference.</param>
public sealed record AgreementResult(int Prompts, int Tokens, int MatchingTokens, int TeacherForcedMatches, IReadOnlyList<int> CommonPrefixes)
{
    /// <summary>MatchingTokens / Tokens.</summary>
    public double Agreement => Tokens == 0 ? 0 : (double)MatchingTokens / Tokens;

    /// <summary>TeacherForcedMatches / Tokens.</summary>
    public double TeacherForcedAgreement => Tokens == 0 ? 0 : (double)TeacherForcedMatches / Tokens;
}
