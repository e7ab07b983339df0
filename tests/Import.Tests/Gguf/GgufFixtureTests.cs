using System.Text.Json.Nodes;
using MoeServe.Import.Tests.Support;
using MoeServe.Model.Gguf;

namespace MoeServe.Import.Tests.Gguf;

/// <summary>
/// The shared fixture holds the same Mixtral weights as an HF directory and as llama.cpp's GGUF
/// (q/k permuted for llama.cpp's RoPE). GgufCheckpoint must give back exactly the HF tensors: this
/// is the proof that the un-permutation and the expert unstacking are right.
/// </summary>
public sealed class GgufFixtureTests
{
    [Fact]
    public void Reader_FixtureHeader_ParsesMetadataAndTensorInfos()
    {
        using GgufFile file = GgufFile.Open(Fixtures.MixtralGguf);
        Assert.Equal(3u, file.Version);
        Assert.Equal(32, file.Alignment);
        Assert.Equal("llama", file.Architecture);
        Assert.Equal(2L, file.GetInteger("llama.block_count"));
        Assert.Equal(1e-6, file.GetNumber("llama.attention.layer_norm_rms_epsilon"));
        Assert.Equal(23, file.Tensors.Count);
        GgufTensorInfo gate = file.GetTensor("blk.0.ffn_gate_exps.weight");
        Assert.Equal(new long[] { 64, 96, 8 }, gate.Dimensions);
        Assert.Equal(GgmlType.F32, gate.Type);
        Assert.Equal(new long[] { 8, 96, 64 }, gate.TorchShape);
        Assert.Equal(0, file.DataOffset % file.Alignment);
    }

    [Fact]
    public void Tokenizer_FixtureGguf_ExposesGpt2TokensMergesAndIds()
    {
        using GgufCheckpoint gguf = GgufCheckpoint.Open(Fixtures.MixtralGguf);
        GgufTokenizerMetadata tok = gguf.Tokenizer!;
        Assert.Equal("gpt2", tok.Model);
        Assert.Equal("gpt-2", tok.Pre);
        Assert.Equal(4098, tok.Tokens.Count);
        Assert.Equal(4098, tok.TokenTypes!.Count);
        Assert.Equal(3839, tok.Merges!.Count);
        Assert.Equal("Ġ t", tok.Merges[0]);
        Assert.Equal(4095, tok.BosTokenId);
        Assert.Equal(4095, tok.EosTokenId);
        Assert.False(tok.AddBosToken);
        Assert.Equal("<|im_end|>", tok.Tokens[4097]);
        Assert.Equal(GgufTokenType.Control, tok.TokenTypes[4097]);
        Assert.StartsWith("{% for message in messages %}", tok.ChatTemplate, StringComparison.Ordinal);
    }

    [Fact]
    public void Checkpoint_FixtureGguf_EveryTensorEqualsTheSafetensorsTensorExactly()
    {
        using InMemoryHfCheckpoint hf = Fixtures.LoadMixtralHf();
        using GgufCheckpoint gguf = GgufCheckpoint.Open(Fixtures.MixtralGguf);
        Assert.Equal(hf.TensorNames.Order(StringComparer.Ordinal), gguf.TensorNames.Order(StringComparer.Ordinal));
        foreach (string name in hf.TensorNames)
        {
            Assert.Equal(hf.Shape(name), gguf.Shape(name));
            float[] expected = hf.Tensors[name].Data;
            var actual = new float[expected.Length];
            gguf.ReadFloat32(name, actual);
            for (int i = 0; i < expected.Length; i++)
            {
                if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                {
                    Assert.Fail($"{name}[{i}]: GGUF gives {actual[i]:R}, safetensors {expected[i]:R} (from {gguf.SourceTensor(name).Name}).");
                }
            }
        }
    }

    [Fact]
    public void Checkpoint_WithoutUnpermuting_WouldDiffer()
    {
        // Guards the test above: the fixture's q/k rows really are permuted in the GGUF.
        using InMemoryHfCheckpoint hf = Fixtures.LoadMixtralHf();
        using GgufFile file = GgufFile.Open(Fixtures.MixtralGguf);
        var raw = new float[64 * 64];
        file.ReadFloat32(file.GetTensor("blk.0.attn_q.weight"), raw);
        Assert.NotEqual(hf.Tensors["model.layers.0.self_attn.q_proj.weight"].Data, raw);
    }

    [Fact]
    public void Checkpoint_PerExpertMixtralLayout_ReadsTheSameTensors()
    {
        // Mixtral GGUFs from before stacked experts hold blk.N.ffn_{gate,up,down}.E.weight, one per expert.
        string dir = Directory.CreateTempSubdirectory("gguf-per-expert-").FullName;
        try
        {
            string path = Path.Combine(dir, "per-expert.gguf");
            using (GgufFile src = GgufFile.Open(Fixtures.MixtralGguf))
            {
                var w = new GgufWriter();
                foreach (string key in src.MetadataKeys)
                {
                    w.Add(key, src.Metadata[key]);
                }
                foreach (GgufTensorInfo t in src.Tensors)
                {
                    if (t.Name.EndsWith("_exps.weight", StringComparison.Ordinal))
                    {
                        string stem = t.Name.Replace("_exps.weight", "", StringComparison.Ordinal);
                        long per = t.Dimensions[0] * t.Dimensions[1];
                        for (int e = 0; e < t.Dimensions[2]; e++)
                        {
                            w.AddTensor($"{stem}.{e}.weight", [t.Dimensions[0], t.Dimensions[1]], t.Type, src.GetBytes(t, e * per, per).ToArray());
                        }
                    }
                    else
                    {
                        w.AddTensor(t.Name, t.Dimensions, t.Type, src.GetBytes(t, 0, t.ElementCount).ToArray());
                    }
                }
                w.WriteTo(path);
            }
            using InMemoryHfCheckpoint hf = Fixtures.LoadMixtralHf();
            using GgufCheckpoint gguf = GgufCheckpoint.Open(path);
            Assert.Equal(hf.TensorNames.Order(StringComparer.Ordinal), gguf.TensorNames.Order(StringComparer.Ordinal));
            foreach (string name in hf.TensorNames)
            {
                var actual = new float[hf.Tensors[name].Data.Length];
                gguf.ReadFloat32(name, actual);
                Assert.Equal(hf.Tensors[name].Data, actual);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    public static TheoryData<string> ImporterKeys => new()
    {
        "model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "head_dim", "intermediate_size", "num_local_experts", "num_experts_per_tok", "rope_theta", "rms_norm_eps",
        "max_position_embeddings", "tie_word_embeddings", "bos_token_id", "eos_token_id", "rope_scaling", "sliding_window",
        "hidden_act", "architectures", "pad_token_id",
    };

    [Theory]
    [MemberData(nameof(ImporterKeys))]
    public void Config_FixtureGguf_AgreesWithHfConfig(string key)
    {
        using InMemoryHfCheckpoint hf = Fixtures.LoadMixtralHf();
        using GgufCheckpoint gguf = GgufCheckpoint.Open(Fixtures.MixtralGguf);
        Assert.True(hf.Config.ContainsKey(key), $"hf config.json has no {key}");
        Assert.True(gguf.Config.ContainsKey(key), $"synthesized config has no {key}");
        Assert.True(JsonNode.DeepEquals(hf.Config[key], gguf.Config[key]),
            $"{key}: hf {hf.Config[key]?.ToJsonString() ?? "null"}, gguf {gguf.Config[key]?.ToJsonString() ?? "null"}");
    }
}
