namespace MoeServe.Router.Tests.Balancing;

public class BalancingStateTests
{
    [Fact]
    public void ToJson_RoundTrip_PreservesEveryValue()
    {
        var state = new BalancingState("bip", layers: 2, experts: 3);
        state.Layer(0)[1] = 0.125f;
        state.Layer(1)[2] = 1e-7f;

        BalancingState back = BalancingState.FromJson(state.ToJson());

        Assert.Equal("bip", back.Method);
        Assert.Equal(2, back.LayerCount);
        Assert.Equal(state.Layer(0), back.Layer(0));
        Assert.Equal(state.Layer(1), back.Layer(1));
    }

    [Fact]
    public void FromJson_SeveralProblems_ListsAllOfThem()
    {
        const string json = """{"formatVersion": 9, "method": "", "experts": 2, "layers": [[1.0]]}""";

        var e = Assert.Throws<InvalidDataException>(() => BalancingState.FromJson(json));

        Assert.Contains("formatVersion", e.Message, StringComparison.Ordinal);
        Assert.Contains("method", e.Message, StringComparison.Ordinal);
        Assert.Contains("layers[0]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SaveLoad_File_RoundTrips()
    {
        string dir = Directory.CreateTempSubdirectory("moeserve-router").FullName;
        try
        {
            var state = new BalancingState("lossfree", 1, 4);
            state.Layer(0)[3] = -0.5f;
            string path = Path.Combine(dir, BalancingState.FileName);

            state.Save(path);

            Assert.Equal(-0.5f, BalancingState.Load(path).Layer(0)[3]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
