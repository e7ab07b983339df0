using System.Diagnostics;
using System.Text;

using MoeServe.Text;
using MoeServe.Text.HuggingFace;
using MoeServe.Text.Tokenization;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>tokenizer train|encode|decode|eval</c>: trains the byte-level BPE tokenizer and writes it in the tiktoken
/// format, shows how a text encodes (with the project's tokenizer, <c>--dir</c>, or with <c>--from</c> a Hugging Face
/// one, a GGUF's, or a model directory's as the runtime loads it), decodes ids, and measures compression on a corpus file.
/// </summary>
internal static class TokenizerCommand
{
    public static Command Create() => new("tokenizer", "Train, inspect and measure the byte-level BPE tokenizer (tiktoken format).")
    {
        CreateTrain(),
        CreateEncode(),
        CreateDecode(),
        CreateEval(),
    };

    private static Command CreateTrain()
    {
        var input = new Option<string>("--input") { Description = "Training text (a corpus file: documents separated by <|endoftext|>).", DefaultValueFactory = _ => "data/corpus/train.txt" };
        var vocab = new Option<int>("--vocab") { Description = "Vocabulary size: 256 byte tokens + merges + <|endoftext|>.", DefaultValueFactory = _ => BpeTrainerOptions.DefaultVocabularySize };
        var minFrequency = new Option<int>("--min-frequency") { Description = "Stop when the best pair occurs fewer times than this.", DefaultValueFactory = _ => 2 };
        var output = new Option<string>("--out") { Description = "Output directory for tokenizer.tiktoken and tokenizer.json.", DefaultValueFactory = _ => "data/tokenizer" };
        var command = new Command("train", "Train a byte-level BPE vocabulary and write tokenizer.tiktoken + tokenizer.json.") { input, vocab, minFrequency, output };
        command.SetAction(parse => Train(parse.GetValue(input)!, parse.GetValue(vocab), parse.GetValue(minFrequency), parse.GetValue(output)!));
        return command;
    }

    private static Command CreateEncode()
    {
        var directory = new Option<string>("--dir") { Description = "Tokenizer directory (the project's own tiktoken tokenizer).", DefaultValueFactory = _ => "data/tokenizer" };
        var from = new Option<string?>("--from") { Description = "A Hugging Face tokenizer.json, a tokenizer.model, a GGUF file, a directory holding one, or a MoeServe model directory (manifest.json: the runtime's tokenizer) (instead of --dir)." };
        var text = new Option<string>("--text") { Description = "Text to encode.", Required = true };
        var json = CliOptions.Json("With --from: print {\"ids\":[...],\"tokens\":[...],\"count\":N}.");
        var raw = new Option<bool>("--raw") { Description = "With --from: leave out the BOS/EOS the tokenizer (or the model's manifest) adds." };
        var command = new Command("encode", "Show the ids and pieces a text encodes to, and check that it decodes back.") { directory, from, text, json, raw };
        command.SetAction(parse => parse.GetValue(from) is { } source
            ? EncodeFrom(source, parse.GetValue(text)!, parse.GetValue(json), parse.GetValue(raw))
            : parse.GetValue(json) || parse.GetValue(raw)
                ? CliErrors.Fail("--json and --raw need --from (a Hugging Face tokenizer).")
                : Encode(parse.GetValue(directory)!, parse.GetValue(text)!));
        return command;
    }

    private static Command CreateDecode()
    {
        var from = new Option<string>("--from") { Description = "A Hugging Face tokenizer.json, a tokenizer.model, a GGUF file, a directory holding one, or a MoeServe model directory (manifest.json).", Required = true };
        var ids = new Option<string>("--ids") { Description = "Token ids, comma-separated (1,2,3).", Required = true };
        var json = CliOptions.Json("Print {\"text\":...,\"ids\":[...],\"count\":N}.");
        var skip = new Option<bool>("--skip-special") { Description = "Leave special tokens out of the text." };
        var command = new Command("decode", "Decode token ids with a Hugging Face tokenizer, a GGUF's, or a model directory's.") { from, ids, json, skip };
        command.SetAction(parse => DecodeFrom(parse.GetValue(from)!, parse.GetValue(ids)!, parse.GetValue(json), parse.GetValue(skip)));
        return command;
    }

    private static int EncodeFrom(string source, string text, bool json, bool raw)
    {
        if (TokenizerSource.Detect(source) is (TokenizerSourceKind.MoeServeModel, { } manifest))
        {
            return ModelDirectoryTokenizer.Encode(manifest, text, json, raw);
        }

        if (!TryLoadHuggingFace(source, out var tokenizer))
        {
            return 2;
        }

        var ids = tokenizer.Encode(text, addSpecialTokens: !raw);
        var tokens = ids.Select(id => tokenizer.IdToToken(id) ?? "").ToList();
        if (json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { ids, tokens, count = ids.Count }, CliJson));
            return 0;
        }

        Console.WriteLine($"{ids.Count} tokens ({tokenizer.Kind}{(tokenizer.AddBos && !raw ? ", BOS added" : "")}):");
        Console.WriteLine("ids: " + string.Join(' ', ids.Select(id => Invariant(id))));
        Console.WriteLine("tokens: " + string.Join(' ', tokens.Select(t => System.Text.Json.JsonSerializer.Serialize(t, CliJson))));
        return 0;
    }

    private static int DecodeFrom(string source, string idList, bool json, bool skipSpecial)
    {
        var ids = new List<int>();
        foreach (string part in idList.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            {
                return CliErrors.Fail($"--ids: '{part}' is not a token id (expected comma-separated non-negative integers, e.g. 1,2,3).");
            }

            ids.Add(id);
        }

        if (TokenizerSource.Detect(source) is (TokenizerSourceKind.MoeServeModel, { } manifest))
        {
            return ModelDirectoryTokenizer.Decode(manifest, ids, json, skipSpecial);
        }

        if (!TryLoadHuggingFace(source, out var tokenizer))
        {
            return 2;
        }

        string text = tokenizer.Decode(ids, skipSpecial);
        Console.WriteLine(json ? System.Text.Json.JsonSerializer.Serialize(new { text, ids, count = ids.Count }, CliJson) : text);
        return 0;
    }

    private static bool TryLoadHuggingFace(string source, out HuggingFaceTokenizer tokenizer)
    {
        try
        {
            tokenizer = TokenizerSource.Load(source);
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: --from: {e.Message}");
            tokenizer = null!;
            return false;
        }
    }

    private static readonly System.Text.Json.JsonSerializerOptions CliJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static Command CreateEval()
    {
        var directory = new Option<string>("--dir") { Description = "Tokenizer directory.", DefaultValueFactory = _ => "data/tokenizer" };
        var input = new Option<string>("--input") { Description = "Corpus file to encode.", DefaultValueFactory = _ => "data/corpus/validation.txt" };
        var command = new Command("eval", "Encode a corpus file: tokens, bytes per token, encode time, round-trip check.") { directory, input };
        command.SetAction(parse => Eval(parse.GetValue(directory)!, parse.GetValue(input)!));
        return command;
    }

    private static int Train(string input, int vocab, int minFrequency, string output)
    {
        var options = new BpeTrainerOptions { VocabularySize = vocab, MinPairFrequency = minFrequency, ProgressInterval = 50 };
        var errors = options.Validate().ToList();
        if (!File.Exists(input))
        {
            errors.Add($"--input: file '{input}' not found (build it with: corpus).");
        }

        if (errors.Count > 0)
        {
            return CliErrors.Fail(errors);
        }

        string text = File.ReadAllText(input);
        Console.WriteLine($"Training a {vocab}-token byte-level BPE on {input} ({Encoding.UTF8.GetByteCount(text):N0} bytes)");
        var clock = Stopwatch.StartNew();
        var result = new BpeTrainer(options).Train([text], new TokenizerProgressPrinter(Console.Out, Console.IsOutputRedirected));
        clock.Stop();
        var s = result.Statistics;
        var training = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["input"] = input,
            ["inputCharacters"] = Invariant(s.InputCharacters),
            ["words"] = Invariant(s.Words),
            ["uniqueWords"] = Invariant(s.UniqueWords),
            ["merges"] = Invariant(s.Merges),
            ["minPairFrequency"] = Invariant(minFrequency),
            ["seconds"] = clock.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture),
        };
        var description = TokenizerFiles.Save(output, result.Vocabulary, training);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Trained in {clock.Elapsed.TotalSeconds:F2} s (pre-tokenize {s.PreTokenizeTime.TotalSeconds:F2} s: {s.Words:N0} words, {s.UniqueWords:N0} unique; merges {s.MergeTime.TotalSeconds:F2} s: {s.Merges:N0})."));
        Console.WriteLine($"Wrote {Path.Combine(output, TokenizerFiles.VocabularyFileName)} and {TokenizerFiles.DescriptionFileName}: vocab {description.VocabSize} ({description.OrdinaryTokens} ordinary, {SpecialTokens.EndOfText} = {description.EndOfTextId}).");
        return Eval(output, input);
    }

    private static int Encode(string directory, string text)
    {
        if (!TryLoad(directory, out _, out var tokenizer))
        {
            return 2;
        }

        var ids = tokenizer.EncodeToIds(text);
        Console.WriteLine($"{ids.Count} tokens for {Encoding.UTF8.GetByteCount(text)} bytes:");
        var vocabulary = TokenizerFiles.ReadVocabulary(directory);
        Console.WriteLine(string.Join(' ', ids.Select(id => $"{id}:{Piece(tokenizer, vocabulary, id)}")));
        string decoded = tokenizer.Decode(ids);
        Console.WriteLine(decoded == text ? "Decodes back to the input exactly." : "warning: decoding does not give back the input.");
        return decoded == text ? 0 : 1;
    }

    private static int Eval(string directory, string input)
    {
        if (!File.Exists(input))
        {
            Console.Error.WriteLine($"error: --input: file '{input}' not found.");
            return 2;
        }

        if (!TryLoad(directory, out var encoder, out var tokenizer))
        {
            return 2;
        }

        string text = File.ReadAllText(input);
        long bytes = Encoding.UTF8.GetByteCount(text);
        var clock = Stopwatch.StartNew();
        int[] ids = encoder.Encode(text);
        clock.Stop();
        var documents = Text.Tokenization.CorpusEncoder.SplitDocuments(text);
        int endOfText = ids.Length == 0 ? 0 : ids[^1];
        bool roundTrip = tokenizer.Decode(ids) == string.Concat(documents.Select(d => text.Substring(d.Start, d.Length) + SpecialTokens.EndOfText));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{input}: {bytes:N0} bytes, {documents.Count:N0} documents -> {ids.Length:N0} tokens ({bytes / (double)Math.Max(1, ids.Length):F2} bytes/token) in {clock.Elapsed.TotalSeconds:F2} s ({bytes / 1e6 / clock.Elapsed.TotalSeconds:F1} MB/s); " +
            $"{ids.Count(id => id == endOfText):N0} end-of-text ids; decode round-trip {(roundTrip ? "exact" : "DIFFERS")}."));
        return roundTrip ? 0 : 1;
    }

    private static bool TryLoad(string directory, out CorpusEncoder encoder, out Microsoft.ML.Tokenizers.Tokenizer tokenizer)
    {
        try
        {
            encoder = CorpusEncoder.FromDirectory(directory);
            tokenizer = TokenizerFiles.Load(directory);
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: --dir: {e.Message}");
            encoder = null!;
            tokenizer = null!;
            return false;
        }
    }

    /// <summary>A token as quoted text, or as hex bytes when it is part of a multi-byte character.</summary>
    private static string Piece(Microsoft.ML.Tokenizers.Tokenizer tokenizer, BpeVocabulary vocabulary, int id)
    {
        if (id < vocabulary.TokenBytes.Count && Encoding.UTF8.GetString(vocabulary.TokenBytes[id]).Contains('\uFFFD', StringComparison.Ordinal))
        {
            return "<" + Convert.ToHexString(vocabulary.TokenBytes[id]) + ">";
        }

        return "'" + tokenizer.Decode([id]).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal) + "'";
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
