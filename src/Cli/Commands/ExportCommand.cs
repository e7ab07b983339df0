using MoeServe.Model;
using MoeServe.Model.Export;
using MoeServe.Model.Quantization;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>export</c>: turns a training checkpoint into models/NAME (per-part ONNX graphs, tokenizer,
/// manifest.json) that the runtime and server load (docs/model-format.md).
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint directory (config.json, model.safetensors, tokenizer files, balancing.json, summary.json).", Required = true };
        var output = CliOptions.Out("Model directory to write, e.g. models/NAME.");
        var dtype = DTypeFlag.Create("Weight storage inside the graphs: float16 (half the size; widened to float32 at load) or float32.");
        var weights = WeightsFlag.Create();
        var name = CliOptions.ModelName();
        var randomConfig = new Option<string?>("--random-from-config")
        {
            Description = "First write a random-weight checkpoint with this config.json into --checkpoint (to measure export size and time, or to demo serving, without training).",
        };
        var seed = new Option<int>("--seed") { Description = "Seed of --random-from-config's weights.", DefaultValueFactory = _ => 1 };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "With --random-from-config: tokenizer directory to copy (default: a byte-level tokenizer)." };
        var verify = new Option<int>("--verify")
        {
            Description = "After export, run this many random tokens (prefill, then decode through the KV cache) through the graphs and the managed reference forward pass, and report the largest logit difference; fails above 1e-5 (float32) or 1e-3 (float16) of the largest logit (0 = skip).",
            DefaultValueFactory = _ => 0,
        };

        var lastQ = new Option<bool>("--last-q") { Description = "Serve the last training step's q (balancing.json) instead of the q averaged over the last steps (balancing-average.json, the default when present)." };

        var command = new Command("export", "Export a checkpoint as per-expert ONNX graphs plus manifest.json into models/NAME.")
        {
            checkpoint, output, dtype, weights, name, randomConfig, seed, tokenizer, verify, lastQ,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(Run(
            new ExportOptions
            {
                CheckpointDirectory = parse.GetValue(checkpoint)!,
                OutputDirectory = parse.GetValue(output)!,
                Name = parse.GetValue(name),
                UseLastQ = parse.GetValue(lastQ),
            },
            parse.GetValue(dtype)!,
            parse.GetValue(weights)!,
            parse.GetValue(randomConfig),
            parse.GetValue(seed),
            parse.GetValue(tokenizer),
            parse.GetValue(verify),
            cancellation)));
        return command;
    }

    private static int Run(ExportOptions request, string dtypeText, string weightsText, string? randomConfig, int seed, string? tokenizer, int verifyTokens, CancellationToken cancellation)
    {
        string checkpoint = request.CheckpointDirectory;
        string output = request.OutputDirectory;
        var errors = new List<string>();
        if (verifyTokens < 0)
        {
            errors.Add($"--verify must be 0 (skip) or a positive number of tokens, got {verifyTokens}.");
        }

        var dtype = DTypeFlag.Parse(dtypeText, errors);

        var quantization = WeightsFlag.Parse(weightsText, allowFloat: true, errors);
        if (quantization is not null && verifyTokens > 0)
        {
            errors.Add($"--verify compares against the float reference within float bounds; it applies only with {WeightsFlag.Name} float.");
        }

        if (randomConfig is null && tokenizer is not null)
        {
            errors.Add("--tokenizer only applies with --random-from-config.");
        }

        if (randomConfig is not null && !File.Exists(randomConfig))
        {
            errors.Add($"--random-from-config: file not found: {randomConfig}");
        }

        var options = request with { WeightType = dtype, Quantization = quantization };
        if (randomConfig is null)
        {
            errors.AddRange(options.Validate());
        }

        if (errors.Count > 0)
        {
            return CliErrors.Fail(errors);
        }

        try
        {
            if (randomConfig is not null)
            {
                var config = ModelConfig.Load(randomConfig);
                RandomCheckpoint.Write(checkpoint, config, seed, new RandomCheckpointOptions { TokenizerDirectory = tokenizer });
                Console.WriteLine($"wrote a random-weight checkpoint (seed {seed}) to {checkpoint}");
            }

            var optionErrors = options.Validate();
            if (optionErrors.Count > 0)
            {
                return CliErrors.Fail(optionErrors);
            }

            Console.WriteLine($"exporting {checkpoint} -> {output} ({dtype.DisplayName()} weights{(quantization is null ? "" : $", {quantization.Mode.DisplayName()} experts and attention")})");
            var progress = new ExportProgressPrinter(Console.Out);
            var result = new CheckpointExporter().Export(options, progress, cancellation);
            var c = result.Manifest.Config;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done: {result.Files} files, {result.TotalBytes / 1e6:F2} MB in {result.Elapsed.TotalSeconds:F1} s -> {Path.Combine(output, ModelManifest.FileName)}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"model: {c.Layers} layers x {c.Experts} experts (top-{c.TopK}), d={c.DModel}, vocab={c.VocabSize}, routing q from '{result.Manifest.Routing.Method}'"));
            return verifyTokens > 0 ? Verify(output, checkpoint, verifyTokens, seed, dtype) : 0;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("export cancelled; the output directory has no manifest.json and is incomplete.");
            return 130;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or ArgumentException or UnauthorizedAccessException or System.Text.Json.JsonException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            return CliErrors.Fail([ex.Message]);
        }
    }

    private static int Verify(string output, string checkpoint, int tokens, int seed, TensorDType dtype)
    {
        using var verifier = new ExportVerifier(output, checkpoint);
        var (maxError, maxLogit) = verifier.Verify(tokens, seed);
        // Relative to the largest logit: float16 rounding error scales with the weights and logits.
        float bound = dtype == TensorDType.Float32 ? 1e-5f : 1e-3f;
        float relative = maxError / Math.Max(1f, maxLogit);
        bool ok = relative <= bound;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"verify: {tokens} tokens, graphs vs reference forward pass: max |logit error| {maxError:G3}, largest |logit| {maxLogit:F2}, relative {relative:G3} (bound {bound:G1}) -> {(ok ? "OK" : "TOO LARGE")}"));
        return ok ? 0 : 1;
    }
}
