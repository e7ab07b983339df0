using MoeServe.Text.Chat;

namespace MoeServe.Text.Tests.Chat;

/// <summary>Renders every case of <see cref="ChatTemplateCases"/> once with @huggingface/jinja (one Node run).</summary>
public sealed class ReferenceRenderings
{
    private readonly Lazy<Dictionary<string, HuggingFaceJinja.Result>> _results = new(() =>
    {
        var cases = ChatTemplateCases.All.Select(c => (c.Id, c.Template, c.Context))
            .Concat(ConstructCases.All.Select(c => (c.Id, c.Template, System.Text.Json.Nodes.JsonNode.Parse(c.ContextJson)!.AsObject())))
            .ToList();
        var results = HuggingFaceJinja.Render(cases.Select(c => (c.Template, c.Item3)).ToList());
        return cases.Zip(results).ToDictionary(p => p.First.Id, p => p.Second);
    });

    internal HuggingFaceJinja.Result this[string id] => _results.Value[id];
}

/// <summary>Our renderer against transformers.js's engine on the published templates of the four families:
/// byte-identical text, or the same raise_exception message.</summary>
[Trait("Tier", "External")]
public sealed class ReferenceRenderingTests(ReferenceRenderings reference) : IClassFixture<ReferenceRenderings>
{
    public static TheoryData<string> CaseIds => new(ChatTemplateCases.All.Select(c => c.Id));

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Render_MatchesHuggingFaceJinja(string id)
    {
        var testCase = ChatTemplateCases.All.Single(c => c.Id == id);
        var expected = reference[id];
        var template = JinjaTemplate.Parse(testCase.Template);
        if (expected.Error is not null)
        {
            var raised = Assert.Throws<JinjaRaisedException>(() => template.Render(testCase.Context));
            Assert.Equal(expected.Error, raised.Message);
            return;
        }

        string actual = template.Render(testCase.Context);
        Assert.Equal(expected.Text, actual);
    }

    public static TheoryData<string> ConstructIds => new(ConstructCases.All.Select(c => c.Id));

    [Theory]
    [MemberData(nameof(ConstructIds))]
    public void Construct_MatchesHuggingFaceJinja(string id)
    {
        var (_, source, contextJson) = ConstructCases.All.Single(c => c.Id == id);
        var expected = reference[id];
        Assert.True(expected.Error is null, $"the reference failed: {expected.Error}");
        string actual = JinjaTemplate.Parse(source).Render(System.Text.Json.Nodes.JsonNode.Parse(contextJson)!.AsObject());
        Assert.Equal(expected.Text, actual);
    }

    [Fact]
    public void Cases_CoverEveryTemplateFile()
    {
        string root = Path.Combine(AppContext.BaseDirectory, "chat-templates");
        var files = Directory.GetFiles(root, "*.jinja", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'));
        Assert.All(files, f => Assert.Contains(ChatTemplateCases.All, c => c.TemplateFile == f));
        Assert.True(ChatTemplateCases.All.Count >= 80, $"only {ChatTemplateCases.All.Count} cases");
    }
}
