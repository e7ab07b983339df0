using System.Diagnostics;
using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.Text.Import;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>import</c>: a Hugging Face MoE checkpoint or a GGUF file (mixtral, qwen2_moe, qwen3_moe, olmoe) as models/NAME
/// (docs/importing.md), with src/Text's <see cref="ImportTokenizerProvider"/> for the tokenizer (a GGUF's converted
/// from its metadata) and the chat template. Refusals are one line on stderr and exit code 2, with nothing written.
/// </summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "Hugging Face model directory (config.json, model.safetensors or shards, tokenizer.json) or a .gguf file.", Required = true };
        var output = CliOptions.Out("Model directory to write, e.g. models/NAME (written as a temporary sibling, renamed when complete).");
        var dtype = DTypeFlag.Create("Weight storage inside the graphs: float16 or float32 (norms, biases and router gates stay float32).");
        var weights = WeightsFlag.Create();
        var name = CliOptions.ModelName();
        var context = new Option<int?>("--context-length") { Description = "Serve at most this many tokens per sequence (default: max_position_embeddings); the KV cache is sized by it." };
        var chatTemplate = new Option<string?>("--chat-template") { Description = "A Jinja chat template file that overrides the model's (default: the shipped template when usable, else the family's built-in)." };
        var accuracy = new Option<int?>("--accuracy-level") { Description = "With --weights int8|int4: MatMulNBits accuracy_level, 4 = int8 activations (default, faster), 1 = float32 compute (ONNX Runtime keeps 0.625 instead of 0.875 bytes per int4 weight in memory)." };
        var command = new Command("import", "Import a Hugging Face MoE checkpoint or a GGUF file as per-expert ONNX graphs plus manifest.json into models/NAME.")
        {
            from, output, dtype, weights, name, context, chatTemplate, accuracy,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(Run(
            new ImportOptions
            {
                Source = parse.GetValue(from)!,
                OutputDirectory = parse.GetValue(output)!,
                Name = parse.GetValue(name),
                ContextLength = parse.GetValue(context),
                ChatTemplateFile = parse.GetValue(chatTemplate),
            },
            parse.GetValue(dtype)!,
            parse.GetValue(weights)!,
            parse.GetValue(accuracy),
            cancellation)));
        return command;
    }

    private static int Run(ImportOptions request, string dtypeText, string weightsText, int? accuracyLevel, CancellationToken cancellation)
    {
        // Refusals are one line: the first problem (--weights before --dtype, then --accuracy-level).
        var errors = new List<string>();
        var quantization = WeightsFlag.Parse(weightsText, allowFloat: true, errors);
        var dtype = DTypeFlag.Parse(dtypeText, errors);
        if (accuracyLevel is { } level && errors.Count == 0)
        {
            if (level is < 0 or > 4)
            {
                errors.Add($"--accuracy-level must be 0-4, got {level}.");
            }
            else if (quantization is null)
            {
                errors.Add("--accuracy-level needs --weights int8 or int4 (float weights have no MatMulNBits nodes).");
            }
            else
            {
                quantization = quantization with { AccuracyLevel = level };
            }
        }

        if (errors.Count > 0)
        {
            return Fail(errors[0]);
        }

        string from = request.Source;
        string output = request.OutputDirectory;
        try
        {
            var options = request with { WeightType = dtype, Quantization = quantization };
            Console.WriteLine($"importing {from} -> {output} ({dtype.DisplayName()} weights)");
            var progress = new Printer();
            var result = new HfImporter(tokenizers: new ImportTokenizerProvider()).Import(options, progress, cancellation);
            var c = result.Manifest.Config;
            if (result.ChatTemplateDescription is { } chat)
            {
                Console.WriteLine(chat);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done: {result.ModelType}, {result.Files} files, {result.TotalBytes / 1e6:F2} MB in {result.Elapsed.TotalSeconds:F1} s -> {Path.Combine(output, ModelManifest.FileName)}"));
            if (result.Quantization is { } q)
            {
                // Copied matrices are GGUF Q8_0/Q4_0 blocks taken over exactly; the error is the re-quantized rest's.
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"quantized: {q.Matrices} matrices, {q.CopiedMatrices} copied losslessly from GGUF blocks, {q.Matrices - q.CopiedMatrices} re-quantized (relative RMS error {q.RelativeRms:G3}, max |error| {q.MaxAbsError:G3})"));
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"model: {c.Layers} layers x {c.Experts} experts (top-{c.TopK}{(c.Renormalize ? ", renormalised" : "")}{(c.HasSharedExpert ? ", gated shared expert" : "")}), d={c.DModel}, heads={c.Heads}/{c.KeyValueHeads} kv, head dim {c.HeadDim}, vocab={c.VocabSize}, context {c.ContextLength}; routing: plain top-K (q = 0)"));
            return 0;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("import cancelled; nothing was written to --out.");
            return 130;
        }
        catch (Exception ex) when (ex is UnsupportedCheckpointException or InvalidDataException or NotSupportedException or IOException or ArgumentException or UnauthorizedAccessException or System.Text.Json.JsonException or KeyNotFoundException)
        {
            return Fail(ex.Message);
        }
    }

    private static int Fail(string message)
    {
        // One line: the first line of the message.
        return CliErrors.Fail(message.Split('\n')[0].TrimEnd('\r'));
    }

    /// <summary>One line per finished layer, plus a line every 5 s inside a long layer, so a big import never looks hung.</summary>
    private sealed class Printer : IProgress<ImportProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private double _lastLine;

        public void Report(ImportProgress value)
        {
            double now = _clock.Elapsed.TotalSeconds;
            if (value.LayerComplete)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  layer {value.Layer + 1}/{value.Layers} written ({value.Done}/{value.Total} files, {now:F1} s)"));
                _lastLine = now;
            }
            else if (now - _lastLine >= 5)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ... {value.File} ({value.Done}/{value.Total} files, {now:F1} s)"));
                _lastLine = now;
            }
        }
    }
}
