namespace MoeServe.Router.Tests.Routing;

public class RouterScoresTests
{
    [Fact]
    public void Compute_Softmax_RowsSumToOneAndMatchDefinition()
    {
        float[] logits = [1f, 2f, 3f, /* row 1 */ 0f, 0f, 0f];
        var scores = new float[6];

        RouterScores.Compute(logits, scores, 3, ScoreFunction.Softmax);

        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        Assert.Equal(Math.Exp(3) / z, scores[2], 5);
        Assert.Equal(1f / 3, scores[4], 6);
        Assert.Equal(1f, scores[0] + scores[1] + scores[2], 5);
    }

    [Fact]
    public void Compute_SigmoidInPlace_MatchesDefinition()
    {
        float[] values = [0f, 2f, -2f];

        RouterScores.Compute(values, values, 3, ScoreFunction.Sigmoid);

        Assert.Equal(0.5f, values[0], 6);
        Assert.Equal(1 / (1 + Math.Exp(-2)), values[1], 5);
    }

    [Fact]
    public void Compute_LengthNotMultipleOfExperts_Throws()
    {
        Assert.Throws<ArgumentException>(() => RouterScores.Compute(new float[5], new float[5], 2, ScoreFunction.Softmax));
    }
}
