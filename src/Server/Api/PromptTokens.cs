using MoeServe.Runtime;
using MoeServe.Text.Chat;

namespace MoeServe.Server.Api;

/// <summary>A prompt as text and as the ids the model is fed.</summary>
/// <param name="Text">The prompt text (for chat: the rendered template).</param>
/// <param name="Ids">The token ids.</param>
public sealed record PromptIds(string Text, int[] Ids);

/// <summary>
/// The one place request input becomes model input: chat messages through the model's chat template, text through
/// the engine's prompt encoding (BOS once, as the model asks). /v1/chat/completions and /v1/completions feed the
/// model what this returns, and /tokenize answers with it, so what a client inspects is what the model would see.
/// </summary>
public static class PromptTokens
{
    /// <summary>Renders <paramref name="messages"/> with the model's chat template and encodes the text.</summary>
    /// <param name="model">The loaded model.</param>
    /// <param name="messages">The validated conversation.</param>
    /// <param name="addGenerationPrompt">End with the assistant's turn opener (the chat endpoint always does).</param>
    /// <param name="maxTokens">Encode at most this many ids (generation only needs to know the prompt exceeds the context).</param>
    /// <returns>The prompt, or a 400 naming 'messages' when the template refuses or fails.</returns>
    public static (PromptIds? Prompt, ApiError? Error) FromMessages(ModelHost model, IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt, int maxTokens = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(model);
        string text;
        try
        {
            text = model.ChatPrompt.Render(messages, addGenerationPrompt);
        }
        catch (JinjaRaisedException e)
        {
            return (null, ApiError.Invalid($"The model's chat template rejected 'messages': {e.Message}", "messages"));
        }
        catch (JinjaException e)
        {
            return (null, ApiError.Invalid($"The model's chat template could not render 'messages': {e.Message}", "messages"));
        }

        // BOS as the model says, once: a template that writes bos_token itself already has it.
        return (new PromptIds(text, model.Engine.EncodePrompt(text, maxTokens)), null);
    }

    /// <summary>Encodes prompt text as /v1/completions does (<paramref name="addSpecialTokens"/> true) or as the bare tokenizer ids.</summary>
    /// <param name="engine">The loaded engine.</param>
    /// <param name="text">The prompt text.</param>
    /// <param name="addSpecialTokens">Put BOS in front when the model asks for one.</param>
    /// <param name="maxTokens">Encode at most this many ids.</param>
    public static PromptIds FromText(MoeEngine engine, string text, bool addSpecialTokens = true, int maxTokens = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return new PromptIds(text, engine.Prompts.Encode(text, addSpecialTokens, maxTokens));
    }

    /// <summary>The first id at or above <paramref name="vocabSize"/> as a 400 naming <c>param[i]</c>, or null when all fit.</summary>
    /// <param name="ids">Non-negative token ids.</param>
    /// <param name="vocabSize">The model's vocabulary size.</param>
    /// <param name="param">The request field holding the ids.</param>
    public static ApiError? FindOutOfVocabulary(IReadOnlyList<int> ids, int vocabSize, string param)
    {
        ArgumentNullException.ThrowIfNull(ids);
        for (var i = 0; i < ids.Count; i++)
        {
            if (ids[i] >= vocabSize)
            {
                return ApiError.Invalid($"'{param}[{i}]' is token id {ids[i]}, outside the vocabulary of {vocabSize}.", $"{param}[{i}]");
            }
        }

        return null;
    }
}
