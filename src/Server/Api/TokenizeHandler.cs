namespace MoeServe.Server.Api;

/// <summary>
/// vLLM-compatible POST /tokenize and POST /detokenize: the ids a prompt or a conversation becomes (through
/// <see cref="PromptTokens"/>, exactly what the generation endpoints feed the model) and the text of ids.
/// They run on the request's thread with the tokenizer only; the batching loop never sees them.
/// </summary>
public sealed class TokenizeHandler(ModelHost model, ServerOptions options, ServerState state)
{
    /// <summary>The routes, for the route table and the bounded metrics labels.</summary>
    public static readonly string[] Routes = ["/tokenize", "/detokenize"];

    /// <summary>POST /tokenize.</summary>
    public async Task TokenizeAsync(HttpContext context)
    {
        if (await ReadRequestAsync(context, TokenizeRequestParser.ParseTokenize).ConfigureAwait(false) is not { } request)
        {
            return;
        }

        var (spec, error) = request;
        if (spec is not null && CheckModel(spec.Model) is { } modelError)
        {
            error = modelError;
        }

        PromptIds? prompt = null;
        if (spec is not null && error is null)
        {
            (prompt, error) = spec.Messages is { } messages
                ? PromptTokens.FromMessages(model, messages, spec.AddGenerationPrompt)
                : (PromptTokens.FromText(model.Engine, spec.Prompt!, spec.AddSpecialTokens), null);
        }

        if (prompt is null)
        {
            await GenerationHandler.WriteErrorAsync(context, error!).ConfigureAwait(false);
            return;
        }

        var strings = spec!.ReturnTokenStrs ? Array.ConvertAll(prompt.Ids, model.Engine.Prompts.TokenText) : null;
        var response = new TokenizeResponseDto(prompt.Ids.Length, model.ContextLength, prompt.Ids, strings);
        await GenerationHandler.WriteJsonAsync(context, StatusCodes.Status200OK, response, ServerJsonContext.Default.TokenizeResponseDto).ConfigureAwait(false);
    }

    /// <summary>POST /detokenize.</summary>
    public async Task DetokenizeAsync(HttpContext context)
    {
        if (await ReadRequestAsync(context, TokenizeRequestParser.ParseDetokenize).ConfigureAwait(false) is not { } request)
        {
            return;
        }

        var (spec, error) = request;
        if (spec is not null)
        {
            error = CheckModel(spec.Model) ?? PromptTokens.FindOutOfVocabulary(spec.Tokens, model.Engine.VocabSize, "tokens");
        }

        if (error is not null)
        {
            await GenerationHandler.WriteErrorAsync(context, error).ConfigureAwait(false);
            return;
        }

        var text = model.Engine.Prompts.Decode(spec!.Tokens);
        await GenerationHandler.WriteJsonAsync(context, StatusCodes.Status200OK, new DetokenizeResponseDto(text), ServerJsonContext.Default.DetokenizeResponseDto).ConfigureAwait(false);
    }

    private delegate (TSpec? Spec, ApiError? Error) Parser<TSpec>(ReadOnlySpan<byte> body);

    // The body parsed, or null after an error response (not ready, too large, unreadable).
    private async Task<(TSpec? Spec, ApiError? Error)?> ReadRequestAsync<TSpec>(HttpContext context, Parser<TSpec> parse)
    {
        ArgumentNullException.ThrowIfNull(context);
        var body = await GenerationHandler.ReadBodyWhenReadyAsync(context, model, state, options).ConfigureAwait(false);
        return body is null ? null : parse(body);
    }

    private ApiError? CheckModel(string? requested) =>
        requested is not null && !string.Equals(requested, model.ServedModelName, StringComparison.Ordinal)
            ? ApiError.ModelNotFound(requested, model.ServedModelName)
            : null;
}
