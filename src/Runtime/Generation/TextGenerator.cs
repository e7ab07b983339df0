using MoeServe.Runtime.Sampling;

namespace MoeServe.Runtime.Generation;

/// <summary>
/// The simplest generation loop: one prompt, one sequence, token by token (used by the CLI's
/// <c>generate</c>; the server batches many sequences through <see cref="MoeEngine.Forward"/> itself).
/// </summary>
public sealed class TextGenerator
{
    private readonly MoeEngine _engine;
    private readonly TimeProvider _time;

    /// <summary>Creates a generator over a loaded engine.</summary>
    /// <param name="engine">The engine (not owned).</param>
    /// <param name="time">Clock for the reported times.</param>
    public TextGenerator(MoeEngine engine, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Generates a continuation of <paramref name="prompt"/>.</summary>
    /// <param name="prompt">The prompt text (must encode to at least one token).</param>
    /// <param name="parameters">Sampling and stopping.</param>
    /// <param name="onText">Called with each new piece of text as soon as it is safe to show.</param>
    /// <param name="cancellationToken">Stops between tokens.</param>
    public GenerationResult Generate(string prompt, SamplingParameters parameters, Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(parameters);
        parameters.EnsureValid();
        var promptIds = _engine.EncodePrompt(prompt);
        if (promptIds.Length == 0)
        {
            throw new ArgumentException("The prompt encodes to no tokens; give some text.", nameof(prompt));
        }

        if (promptIds.Length >= _engine.ContextLength)
        {
            throw new ArgumentException($"The prompt has {promptIds.Length} tokens; the model's context length is {_engine.ContextLength}.", nameof(prompt));
        }

        var random = parameters.CreateRandom();
        var sampler = new Sampler(_engine.VocabSize);
        var logits = new float[_engine.VocabSize];
        var next = new int[1];
        var items = new ForwardItem[1];
        var text = new System.Text.StringBuilder();
        using var cache = _engine.CreateCache();
        using var output = new TokenOutput(_engine.Tokenizer, parameters, _engine.StopTokenIds, promptIds.Length, _engine.ContextLength);

        long start = _time.GetTimestamp();
        items[0] = new ForwardItem(cache, promptIds);
        _engine.Forward(items, logits, null);
        TimeSpan prefill = default;
        long firstToken = 0;
        bool first = true;

        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var token = sampler.Sample(logits, parameters, random);
            if (first)
            {
                // The first token exists once it is sampled; decode time counts from here.
                first = false;
                firstToken = _time.GetTimestamp();
                prefill = _time.GetElapsedTime(start, firstToken);
            }

            var step = output.Append(token);
            Emit(step.Text, text, onText);
            if (step.Finish is not null)
            {
                break;
            }

            next[0] = token.TokenId;
            items[0] = new ForwardItem(cache, next);
            _engine.Forward(items, logits, null);
        }

        Emit(output.Flush(), text, onText);
        return new GenerationResult(text.ToString(), promptIds.Length, output.Generated, output.FinishReason!.Value, prefill, _time.GetElapsedTime(firstToken))
        {
            FirstTokenTimestamp = firstToken,
        };
    }

    private static void Emit(string piece, System.Text.StringBuilder output, Action<string>? onText)
    {
        if (piece.Length > 0)
        {
            output.Append(piece);
            onText?.Invoke(piece);
        }
    }
}
