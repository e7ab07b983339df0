using System.Diagnostics;

using MoeServe.Router;
using MoeServe.Runtime;
using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Sampling;

namespace MoeServe.Cli.Commands;

/// <summary><c>generate</c>: loads an exported model and streams a continuation of a prompt to stdout.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var flags = new GenerateRuntimeFlags();
        var prompt = new Option<string>("--prompt") { Description = "The text to continue.", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature; 0 = greedy.", DefaultValueFactory = _ => 0.8 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass (1 = off).", DefaultValueFactory = _ => 0.95 };
        var topK = new Option<int>("--top-k") { Description = "Keep only the k most likely tokens (0 = off).", DefaultValueFactory = _ => 0 };
        var seed = new Option<int?>("--seed") { Description = "Seed of the sampler (default: random)." };
        var stop = new Option<string[]>("--stop") { Description = "Stop before this text (repeat for several).", AllowMultipleArgumentsPerToken = false };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "End-of-sequence tokens do not end generation: it runs to --max-tokens (or the context, or a --stop text), as the server's ignore_eos." };
        var command = new Command("generate", "Generate a continuation of --prompt with an exported model (ONNX Runtime, per-expert graphs).")
        {
            prompt, maxTokens, temperature, topP, topK, seed, stop, ignoreEos,
        };
        flags.AddTo(command);

        command.SetAction((parse, cancellation) =>
        {
            var errors = new List<string>();
            var options = flags.Build(parse, errors, o => o with { MaxSequences = 1 });
            var sampling = new SamplingParameters
            {
                MaxTokens = parse.GetValue(maxTokens),
                Temperature = parse.GetValue(temperature),
                TopP = parse.GetValue(topP),
                TopK = parse.GetValue(topK),
                Seed = parse.GetValue(seed),
                Stop = parse.GetValue(stop) ?? [],
                StopAtEndOfText = !parse.GetValue(ignoreEos),
            };
            errors.AddRange(sampling.Validate().Select(e => "--" + e.Replace('_', '-')));
            if (string.IsNullOrEmpty(parse.GetValue(prompt)))
            {
                errors.Add("--prompt must not be empty.");
            }

            return Task.FromResult(errors.Count > 0 ? CliErrors.Fail(errors) : Run(options, parse.GetValue(prompt)!, sampling, cancellation));
        });
        return command;
    }

    private static int Run(RuntimeOptions options, string prompt, SamplingParameters sampling, CancellationToken cancellation)
    {
        return GenerateRuntimeFlags.Run(() =>
        {
            long loading = Stopwatch.GetTimestamp();
            using var engine = MoeEngine.Load(options);
            var load = Stopwatch.GetElapsedTime(loading);
            GenerateRuntimeFlags.PrintDevices(engine);
            GenerationResult result;
            using (var text = new PacedConsoleWriter())
            {
                text.Write(prompt);
                text.Flush();
                result = new TextGenerator(engine, TimeProvider.System).Generate(prompt, sampling, text.Write, cancellation);
                text.Write(Environment.NewLine);
            }

            var firstTokenAfterStart = ProcessClock.SinceStart() - Stopwatch.GetElapsedTime(result.FirstTokenTimestamp);
            Console.Error.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"[{result.PromptTokens} prompt + {result.CompletionTokens} generated tokens, finish: {result.FinishReason.ToString().ToLowerInvariant()}; first token {firstTokenAfterStart.TotalMilliseconds:F0} ms after process start (model load {load.TotalMilliseconds:F0} ms, prompt {result.PrefillTime.TotalMilliseconds:F1} ms); decode {result.DecodeTokensPerSecond:F1} tokens/s; routing {RoutingPolicyFactory.NameOf(options.Routing)}]"));
            return 0;
        });
    }
}
