namespace MoeServe.Model;

/// <summary>Checks a manifest against itself and the files beside it, listing every problem.</summary>
public static class ModelManifestValidator
{
    /// <summary>Every problem of <paramref name="manifest"/>; missing files are named. Empty when valid.</summary>
    /// <param name="manifest">The manifest.</param>
    /// <param name="directory">The directory holding it (null: skip file checks).</param>
    public static IReadOnlyList<string> Validate(ModelManifest manifest, string? directory)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var errors = new List<string>();
        if (manifest.FormatVersion < ModelManifest.OldestReadableFormatVersion || manifest.FormatVersion > ModelManifest.CurrentFormatVersion)
        {
            // An older format names other graphs: every further check would only add noise.
            string hint = manifest.FormatVersion < ModelManifest.CurrentFormatVersion
                ? " Format 1 had one dense graph per sequence; re-export the model: export --checkpoint <checkpoint dir> --out <model dir>."
                : " Update this build.";
            errors.Add($"formatVersion is {manifest.FormatVersion}; this build reads version {ModelManifest.OldestReadableFormatVersion} or {ModelManifest.CurrentFormatVersion}.{hint}");
            return errors;
        }

        if (string.IsNullOrWhiteSpace(manifest.Name))
        {
            errors.Add("name is missing.");
        }

        if (!Enum.IsDefined(manifest.WeightDType))
        {
            errors.Add($"weightDType {(int)manifest.WeightDType} is unknown.");
        }

        if (manifest.Quantization is not null)
        {
            errors.AddRange(manifest.Quantization.Validate().Select(e => "quantization: " + e));
        }

        var config = manifest.Config;
        if (config is null)
        {
            errors.Add("config is missing.");
        }
        else
        {
            errors.AddRange(config.Validate().Select(e => "config." + e));
        }

        if (config is not null)
        {
            CheckGraphs(manifest.Graphs, config, errors);
            CheckRouting(manifest.Routing, config, errors);
            if (manifest.EndOfTextId >= config.VocabSize)
            {
                errors.Add($"endOfTextId {manifest.EndOfTextId} is outside the vocabulary (vocabSize {config.VocabSize}).");
            }

            foreach (var (token, id) in manifest.SpecialTokens ?? new Dictionary<string, int>())
            {
                if (id < 0 || id >= config.VocabSize)
                {
                    errors.Add($"special token {token} has id {id}, outside [0, {config.VocabSize}).");
                }
            }
        }

        if (manifest.Tokenizer is null)
        {
            errors.Add("tokenizer is missing.");
        }
        else if (manifest.Tokenizer.Kind == TokenizerKind.HuggingFace && string.IsNullOrWhiteSpace(manifest.Tokenizer.HuggingFaceTokenizer))
        {
            errors.Add("tokenizer.kind is huggingFace but tokenizer.huggingFaceTokenizer is missing.");
        }

        if (manifest.FormatVersion < 3 && config is not null && (config.KvHeads != 0 || config.ExplicitHeadDim != 0 || config.QkNorm != QkNormKind.None || config.QkvBias || config.SharedExpertGate || config.UntiedHead || manifest.Tokenizer?.Kind != TokenizerKind.Tiktoken))
        {
            errors.Add($"formatVersion {manifest.FormatVersion} cannot describe kvHeads, headDim, qkNorm, qkvBias, sharedExpertGate, untiedHead or a Hugging Face tokenizer; it must be {ModelManifest.CurrentFormatVersion}.");
        }

        if (config is not null)
        {
            foreach (int id in manifest.EndOfSequenceIds ?? [])
            {
                if (id < 0 || id >= config.VocabSize)
                {
                    errors.Add($"endOfSequenceIds contains {id}, outside [0, {config.VocabSize}).");
                }
            }

            if (manifest.BosId >= config.VocabSize)
            {
                errors.Add($"bosId {manifest.BosId} is outside the vocabulary (vocabSize {config.VocabSize}).");
            }
        }

        if (directory is not null && manifest.Graphs is not null && manifest.Tokenizer is not null)
        {
            foreach (string file in manifest.ReferencedFiles().Where(f => !string.IsNullOrWhiteSpace(f)).Distinct(StringComparer.Ordinal))
            {
                if (Path.IsPathRooted(file) || file.Contains("..", StringComparison.Ordinal))
                {
                    errors.Add($"file {file} must be a plain name relative to the model directory.");
                }
                else if (!File.Exists(Path.Combine(directory, file)))
                {
                    errors.Add($"missing file: {Path.Combine(directory, file)}");
                }
            }
        }

        return errors;
    }

    private static void CheckGraphs(ManifestGraphs? graphs, ModelConfig config, List<string> errors)
    {
        if (graphs is null)
        {
            errors.Add("graphs is missing.");
            return;
        }

        if (string.IsNullOrWhiteSpace(graphs.Embed))
        {
            errors.Add("graphs.embed is missing.");
        }

        if (string.IsNullOrWhiteSpace(graphs.Head))
        {
            errors.Add("graphs.head is missing.");
        }

        var layers = graphs.Layers ?? [];
        if (layers.Count != config.Layers)
        {
            errors.Add($"graphs.layers has {layers.Count} entries, config.layers is {config.Layers}.");
        }

        for (int l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            if (string.IsNullOrWhiteSpace(layer?.Qkv))
            {
                errors.Add($"graphs.layers[{l}].qkv is missing.");
            }

            if (string.IsNullOrWhiteSpace(layer?.Post))
            {
                errors.Add($"graphs.layers[{l}].post is missing.");
            }

            int experts = layer?.Experts?.Count ?? 0;
            if (experts != config.Experts)
            {
                errors.Add($"graphs.layers[{l}].experts has {experts} files, config.experts is {config.Experts}.");
            }

            if (config.HasSharedExpert && string.IsNullOrWhiteSpace(layer?.Shared))
            {
                errors.Add($"graphs.layers[{l}].shared is missing but config.sharedExpertHidden is {config.SharedExpertHidden}.");
            }
            else if (!config.HasSharedExpert && layer?.Shared is not null)
            {
                errors.Add($"graphs.layers[{l}].shared is set but config.sharedExpertHidden is 0.");
            }
        }
    }

    private static void CheckRouting(ManifestRouting? routing, ModelConfig config, List<string> errors)
    {
        if (routing is null)
        {
            errors.Add("routing is missing.");
            return;
        }

        if (routing.TopK != config.TopK)
        {
            errors.Add($"routing.topK {routing.TopK} differs from config.topK {config.TopK}.");
        }

        if (routing.ScoreFunction != config.ScoreFunction)
        {
            errors.Add($"routing.scoreFunction {routing.ScoreFunction} differs from config.scoreFunction {config.ScoreFunction}.");
        }

        if (routing.Renormalize != config.Renormalize)
        {
            errors.Add($"routing.renormalize {routing.Renormalize} differs from config.renormalize {config.Renormalize}.");
        }

        ValidateQ(routing.Q, "routing.q", config, errors);
        if (routing.PreviousQ is { } previous)
        {
            ValidateQ(previous.Q, "routing.previousQ.q", config, errors);
        }
    }

    private static void ValidateQ(IReadOnlyList<float[]>? vectors, string name, ModelConfig config, List<string> errors) =>
        QVectors.Validate(vectors, name, config, $"config.layers is {config.Layers}", $"config.experts is {config.Experts}", errors);
}
