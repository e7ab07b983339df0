using Microsoft.ML.Tokenizers;
using MoeServe.Runtime.Sampling;

namespace MoeServe.Runtime.Generation;

/// <summary>
/// The one place a sampled token becomes output, for the CLI's <see cref="TextGenerator"/> and the
/// server's batching loop alike: the text that is safe to show (partial characters and possible stop
/// prefixes held back), the token's logprobs when asked for, and whether and why the sequence ends
/// (end-of-text, a stop string, max tokens or the context length). One per sequence; not thread-safe.
/// </summary>
public sealed class TokenOutput : IDisposable
{
    private readonly Tokenizer _tokenizer;
    private readonly IncrementalDecoder _decoder;
    private readonly StopSequenceDetector _stops;
    private readonly int _endOfTextTokenId;
    private readonly int[] _moreStopTokenIds;
    private readonly int _limit;
    private readonly bool _logprobs;
    private readonly int[] _single = new int[1];
    private bool _flushed;

    /// <summary>Creates the output of one sequence.</summary>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="parameters">Max tokens, stop strings, whether end-of-text stops.</param>
    /// <param name="endOfTextTokenId">The model's end-of-text token, or -1 when it has none.</param>
    /// <param name="promptTokens">Tokens in the prompt (they count against the context length).</param>
    /// <param name="contextLength">Most tokens prompt plus completion may hold.</param>
    /// <param name="logprobs">Whether each step carries the token's text and log-probabilities.</param>
    /// <exception cref="ArgumentOutOfRangeException">The prompt leaves no room in the context.</exception>
    public TokenOutput(Tokenizer tokenizer, SamplingParameters parameters, int endOfTextTokenId, int promptTokens, int contextLength, bool logprobs = false)
        : this(tokenizer, parameters, endOfTextTokenId >= 0 ? [endOfTextTokenId] : [], promptTokens, contextLength, logprobs)
    {
    }

    /// <summary>Creates the output of one sequence of a model with several end-of-sequence ids (Hugging Face's eos_token_id list).</summary>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="parameters">Max tokens, stop strings, whether end-of-text stops.</param>
    /// <param name="stopTokenIds">Every id that ends the sequence like end-of-text (<see cref="MoeEngine.StopTokenIds"/>).</param>
    /// <param name="promptTokens">Tokens in the prompt (they count against the context length).</param>
    /// <param name="contextLength">Most tokens prompt plus completion may hold.</param>
    /// <param name="logprobs">Whether each step carries the token's text and log-probabilities.</param>
    /// <exception cref="ArgumentOutOfRangeException">The prompt leaves no room in the context.</exception>
    public TokenOutput(Tokenizer tokenizer, SamplingParameters parameters, IReadOnlyList<int> stopTokenIds, int promptTokens, int contextLength, bool logprobs = false)
    {
        ArgumentNullException.ThrowIfNull(stopTokenIds);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(parameters);
        int endOfTextTokenId = stopTokenIds.Count > 0 ? stopTokenIds[0] : -1;
        _moreStopTokenIds = parameters.StopAtEndOfText ? stopTokenIds.Skip(1).ToArray() : [];
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(promptTokens, contextLength);
        _tokenizer = tokenizer;
        _decoder = new IncrementalDecoder(tokenizer, parameters.MaxTokens);
        _stops = new StopSequenceDetector(parameters.Stop);

        // -1 never matches a sampled id, so "do not stop at end-of-text" needs no extra branch.
        _endOfTextTokenId = parameters.StopAtEndOfText ? endOfTextTokenId : -1;
        _limit = Math.Min(parameters.MaxTokens, contextLength - promptTokens);
        _logprobs = logprobs;
    }

    /// <summary>Tokens of the completion so far (the end-of-text token excluded).</summary>
    public int Generated { get; private set; }

    /// <summary>Why the sequence ended; null while it goes on. Final only after <see cref="Flush"/>.</summary>
    public FinishReason? FinishReason { get; private set; }

    /// <summary>Takes the next sampled token.</summary>
    /// <param name="chosen">The sampled token and its log-probability.</param>
    /// <param name="alternatives">The most likely tokens the sampler reported (used only with logprobs).</param>
    /// <exception cref="InvalidOperationException">The sequence already finished.</exception>
    public TokenStep Append(TokenLogprob chosen, ReadOnlySpan<TokenLogprob> alternatives = default)
    {
        if (FinishReason is not null)
        {
            throw new InvalidOperationException("The sequence already finished; no further token is taken.");
        }

        if (chosen.TokenId == _endOfTextTokenId || (_moreStopTokenIds.Length > 0 && Array.IndexOf(_moreStopTokenIds, chosen.TokenId) >= 0))
        {
            FinishReason = Generation.FinishReason.Stop;
            return new TokenStep(string.Empty, Counted: false, Logprobs: null, FinishReason);
        }

        Generated++;
        string text = _stops.Append(_decoder.Append(chosen.TokenId));
        var logprobs = _logprobs ? new TokenLogprobText(TokenText(chosen.TokenId), chosen.Logprob, Alternatives(alternatives)) : null;
        if (_stops.Stopped)
        {
            FinishReason = Generation.FinishReason.Stop;
        }
        else if (Generated >= _limit)
        {
            FinishReason = Generation.FinishReason.Length;
        }

        return new TokenStep(text, Counted: true, logprobs, FinishReason);
    }

    /// <summary>
    /// After the last token: the text still held back (a possible stop prefix, a partial character).
    /// That text can itself complete a stop string; then the output is cut before it and a Length
    /// finish becomes Stop. Returns empty when called again.
    /// </summary>
    /// <exception cref="InvalidOperationException">The sequence has not finished.</exception>
    public string Flush()
    {
        if (FinishReason is null)
        {
            throw new InvalidOperationException("Flush ends a finished sequence; the sequence goes on.");
        }

        if (_flushed || _stops.Stopped)
        {
            _flushed = true;
            return string.Empty;
        }

        _flushed = true;
        string rest = _stops.Append(_decoder.Flush()) + _stops.Flush();
        if (_stops.Stopped)
        {
            FinishReason = Generation.FinishReason.Stop;
        }

        return rest;
    }

    /// <summary>Returns the decoder's pooled buffers.</summary>
    public void Dispose() => _decoder.Dispose();

    private string TokenText(int tokenId)
    {
        _single[0] = tokenId;
        return _tokenizer.Decode(_single) ?? string.Empty;
    }

    private (string Text, float Logprob)[] Alternatives(ReadOnlySpan<TokenLogprob> top)
    {
        var result = new (string, float)[top.Length];
        for (int i = 0; i < top.Length; i++)
        {
            result[i] = (TokenText(top[i].TokenId), top[i].Logprob);
        }

        return result;
    }
}
