using System.Diagnostics;
using MoeServe.Model.Gguf;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>synth</c>: an OLMoE-shaped checkpoint with random weights written straight as a GGUF with Q4_0 or Q8_0 blocks
/// (<see cref="SyntheticMoeGguf"/>), so the 7B-parameter shape can be imported (losslessly, with --weights int4/int8)
/// and benchmarked against llama.cpp on the same file without a download. Bad flags: one line naming the flag, exit 2.
/// </summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        string shapes = string.Join("|", SyntheticMoeShape.All.Select(s => s.Name));
        var shape = new Option<string>("--shape") { Description = $"{shapes}: olmoe-1b-7b is OLMoE-1B-7B's config (d 2048, 16 layers, 64 experts top-8, expert hidden 1024, vocab 50304); tiny has the same structure at test size.", Required = true };
        var weights = new Option<string>("--weights") { Description = "q4_0 or q8_0: the type of the expert, Q/K/V/O and head blocks (embeddings F16, norms and router F32).", DefaultValueFactory = _ => "q4_0" };
        var output = CliOptions.Out("The .gguf file to write (written as a temporary sibling, renamed when complete).");
        var seed = new Option<int>("--seed") { Description = "Seed of every random weight (the same arguments give the same file).", DefaultValueFactory = _ => 1 };
        var command = new Command("synth", "Write an OLMoE-shaped GGUF with random Q4_0/Q8_0 weights and a synthetic byte-level BPE vocabulary (for import and bench without a download).")
        {
            shape, weights, output, seed,
        };
        command.SetAction(parse => Run(parse.GetValue(shape)!, parse.GetValue(weights)!, parse.GetValue(output)!, parse.GetValue(seed)));
        return command;
    }

    private static int Run(string shapeName, string weightsText, string output, int seed)
    {
        var shape = SyntheticMoeShape.All.FirstOrDefault(s => s.Name.Equals(shapeName, StringComparison.OrdinalIgnoreCase));
        if (shape is null)
        {
            return CliErrors.Fail($"--shape must be one of {string.Join(", ", SyntheticMoeShape.All.Select(s => s.Name))}, got '{shapeName}'.");
        }

        GgmlType? type = weightsText.ToLowerInvariant() switch
        {
            "q4_0" => GgmlType.Q4_0,
            "q8_0" => GgmlType.Q8_0,
            _ => null,
        };
        if (type is null)
        {
            return CliErrors.Fail($"--weights must be q4_0 or q8_0, got '{weightsText}'.");
        }

        if (string.IsNullOrWhiteSpace(output) || Directory.Exists(output))
        {
            return CliErrors.Fail($"--out must be a file path, got '{output}'.");
        }

        string full = Path.GetFullPath(output);
        string directory = Path.GetDirectoryName(full)!;
        string temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.writing-{Guid.NewGuid():N}");
        var c = CultureInfo.InvariantCulture;
        try
        {
            Directory.CreateDirectory(directory);
            Console.WriteLine(string.Create(c, $"synth {shape.Name}: {shape.Parameters / 1e6:F1}M parameters ({shape.Layers} layers x {shape.Experts} experts top-{shape.TopK}, d {shape.Hidden}, expert hidden {shape.ExpertHidden}, {shape.Heads} heads, vocab {shape.VocabSize}), {type} blocks, seed {seed} -> {output}"));
            var printer = new Printer();
            SyntheticMoeGguf.Write(shape, type.Value, temporary, seed, printer);
            File.Move(temporary, full, overwrite: true);
            Console.WriteLine(string.Create(c, $"done: {new FileInfo(full).Length / 1e9:F3} GB in {printer.Seconds:F1} s -> {output}"));
            Console.WriteLine($"next: import --from {output} --out models/NAME --weights {(type == GgmlType.Q8_0 ? "int8" : "int4")}   (the blocks are copied, not re-quantized)");
            return 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or OutOfMemoryException)
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }

            return CliErrors.Fail(ex.Message);
        }
    }

    /// <summary>A line per finished layer (and per big tensor outside the layers), so a 4 GB write never looks hung.</summary>
    private sealed class Printer : IProgress<SyntheticMoeProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public double Seconds => _clock.Elapsed.TotalSeconds;

        public void Report(SyntheticMoeProgress value)
        {
            // Called synchronously by the writer (not through a SynchronizationContext), so lines come in order.
            if (value.Tensor.EndsWith("ffn_down_exps.weight", StringComparison.Ordinal) || value.Tensor is "token_embd.weight" or "output.weight")
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {value.Tensor} ({value.Index + 1}/{value.Count} tensors, {value.BytesWritten / 1e9:F2}/{value.TotalBytes / 1e9:F2} GB, {Seconds:F1} s)"));
            }
        }
    }
}
