namespace MoeServe.Router.Tests.Routing;

public class RouterOptionsTests
{
    [Fact]
    public void Validate_SeveralBadFields_ListsEveryOne()
    {
        var options = new RouterOptions
        {
            CapacityFactor = 0.5,
            Bip = new BipOptions { Iterations = 0 },
            LossFree = new LossFreeOptions { UpdateRate = -1 },
        };

        IReadOnlyList<string> errors = options.Validate();

        Assert.Equal(3, errors.Count);
        var e = Assert.Throws<RouterOptionsException>(options.ThrowIfInvalid);
        Assert.Equal(errors, e.Errors);
        Assert.Contains("bip.iterations", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("topk", RoutingMethod.TopK)]
    [InlineData("BIP", RoutingMethod.Bip)]
    [InlineData("lossfree", RoutingMethod.LossFree)]
    [InlineData("biased-topk", RoutingMethod.BiasedTopK)]
    public void TryParseMethod_KnownNames_Parse(string name, RoutingMethod expected)
    {
        Assert.True(RoutingPolicyFactory.TryParseMethod(name, out RoutingMethod method));
        Assert.Equal(expected, method);
    }

    [Fact]
    public void TryParseMethod_UnknownName_ReturnsFalse()
    {
        Assert.False(RoutingPolicyFactory.TryParseMethod("auction", out _));
    }

    [Theory]
    [InlineData("trained", RoutingMethod.BiasedTopK)]
    [InlineData(" Online-BIP ", RoutingMethod.Bip)]
    [InlineData("onlinebip", RoutingMethod.Bip)]
    [InlineData("bip", RoutingMethod.Bip)]
    [InlineData("topk", RoutingMethod.TopK)]
    [InlineData("top-k", RoutingMethod.TopK)]
    public void TryParseServingMethod_ServingNames_Parse(string name, RoutingMethod expected)
    {
        Assert.True(RoutingPolicyFactory.TryParseServingMethod(name, out RoutingMethod method));
        Assert.Equal(expected, method);
    }

    [Theory]
    [InlineData("fastest")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("lossfree")]
    public void TryParseServingMethod_UnknownOrNotServed_ReturnsFalse(string? name)
    {
        Assert.False(RoutingPolicyFactory.TryParseServingMethod(name, out _));
    }

    [Fact]
    public void UnknownNameMessage_NamesTheServingNames()
    {
        Assert.Equal("'fastest' is not one of trained, online-bip, topk.", RoutingPolicyFactory.UnknownNameMessage("fastest", RoutingPolicyFactory.ServingMethods));
    }

    [Fact]
    public void Create_BiasedTopKFromState_IsFrozenCopyAndThreadSafe()
    {
        var state = new BalancingState("bip", 2, 4);
        state.Layer(1)[2] = 0.3f;

        IRoutingPolicy policy = RoutingPolicyFactory.Create(new RouterOptions { Method = RoutingMethod.BiasedTopK }, state, 1);
        state.Layer(1)[2] = 0f;

        var biased = Assert.IsType<BiasedTopKPolicy>(policy);
        Assert.Equal(0.3f, biased.Q[2]);
        Assert.True(policy.IsThreadSafe);
    }

    [Fact]
    public void Create_BipWithoutState_ThrowsNamingTheState()
    {
        var e = Assert.Throws<ArgumentNullException>(() => RoutingPolicyFactory.Create(new RouterOptions { Method = RoutingMethod.Bip }, null, 0));
        Assert.Equal("state", e.ParamName);
    }
}
