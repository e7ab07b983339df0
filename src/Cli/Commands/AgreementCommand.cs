using System.Text.Json;
using MoeServe.Runtime;
using MoeServe.Runtime.Evaluation;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>agreement</c>: greedy-output agreement of --model with --reference (a quantized model with its float
/// twin) over prompts cut from held-out text; see <see cref="GreedyAgreement"/>.
/// </summary>
internal static class AgreementCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var flags = new GenerateRuntimeFlags();
        var reference = new Option<string>("--reference") { Description = "The model to agree with (e.g. the float model --model was quantized from).", Required = true };
        var data = new Option<string>("--data") { Description = "Text the prompts are cut from, evenly spaced.", DefaultValueFactory = _ => "data/corpus/validation.txt" };
        var prompts = new Option<int>("--prompts") { Description = "Number of prompts.", DefaultValueFactory = _ => 5 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Tokens per prompt.", DefaultValueFactory = _ => 32 };
        var tokens = new Option<int>("--tokens") { Description = "Greedy tokens generated per prompt by each model.", DefaultValueFactory = _ => 200 };
        var json = CliOptions.Json("Print the result as JSON.");
        var command = flags.NewCommand("agreement", "Greedy-output agreement of a model with a reference model (e.g. int4 vs float) over prompts from held-out text.", reference, data, prompts, promptTokens, tokens, json);
        command.SetAction((parse, cancellation) =>
        {
            var errors = new List<string>();
            int promptCount = parse.GetValue(prompts);
            int promptLength = parse.GetValue(promptTokens);
            int generated = parse.GetValue(tokens);
            if (promptCount < 1)
            {
                errors.Add($"--prompts must be >= 1, got {promptCount}.");
            }

            if (promptLength < 1)
            {
                errors.Add($"--prompt-tokens must be >= 1, got {promptLength}.");
            }

            if (generated < 1)
            {
                errors.Add($"--tokens must be >= 1, got {generated}.");
            }

            string path = parse.GetValue(data)!;
            if (!File.Exists(path))
            {
                errors.Add($"--data: file not found: {path}");
            }

            var modelOptions = flags.Build(parse, errors, o => o with { MaxBatchTokens = Math.Max(o.MaxBatchTokens, promptLength + generated) });
            var referenceOptions = modelOptions with { ModelPath = parse.GetValue(reference)! };
            if (errors.Count > 0)
            {
                return Task.FromResult(CliErrors.Fail(errors));
            }

            return Task.FromResult(GenerateRuntimeFlags.Run(() =>
            {
                using var model = MoeEngine.Load(modelOptions);
                using var referenceModel = MoeEngine.Load(referenceOptions);
                int[] text = model.EncodePrompt(File.ReadAllText(path));
                if (text.Length < promptCount * promptLength)
                {
                    return CliErrors.Fail([$"--data: {path} holds {text.Length} tokens, fewer than --prompts x --prompt-tokens."]);
                }

                int stride = text.Length / promptCount;
                var cut = Enumerable.Range(0, promptCount).Select(i => text.AsSpan(i * stride, promptLength).ToArray()).ToList();
                var result = new GreedyAgreement(model, referenceModel).Measure(cut, generated, cancellation);
                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(new { model = modelOptions.ModelPath, reference = referenceOptions.ModelPath, result.Prompts, result.Tokens, result.MatchingTokens, result.Agreement, result.TeacherForcedMatches, result.TeacherForcedAgreement, result.CommonPrefixes }, Json));
                }
                else
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{result.Prompts} prompts x {generated} greedy tokens: free-running agreement {result.MatchingTokens}/{result.Tokens} ({result.Agreement:P1}), teacher-forced {result.TeacherForcedMatches}/{result.Tokens} ({result.TeacherForcedAgreement:P1}), common prefixes {string.Join(", ", result.CommonPrefixes)}"));
                }

                return 0;
            }));
        });
        return command;
    }
}
