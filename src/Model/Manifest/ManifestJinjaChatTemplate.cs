namespace MoeServe.Model;

/// <summary>
/// manifest.json's optional "jinjaChatTemplate": a Hugging Face style Jinja chat template a model directory can
/// carry (e.g. an imported Qwen3 or Mixtral's). When present, /v1/chat/completions renders it (with
/// add_generation_prompt true) instead of <see cref="ChatTemplate"/>; when absent nothing changes.
/// </summary>
public sealed record ManifestJinjaChatTemplate
{
    /// <summary>The template text (tokenizer_config.json's chat_template).</summary>
    public required string Template { get; init; }

    /// <summary>The text templates get as bos_token, or null.</summary>
    public string? BosToken { get; init; }

    /// <summary>The text templates get as eos_token, or null.</summary>
    public string? EosToken { get; init; }

    /// <summary>Stop strings for chat replies; null means the ones the template implies (e.g. &lt;|im_end|&gt; for
    /// ChatML, the eos token when the template ends turns with it).</summary>
    public IReadOnlyList<string>? StopStrings { get; init; }
}
