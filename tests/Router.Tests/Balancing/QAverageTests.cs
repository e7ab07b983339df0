namespace MoeServe.Router.Tests.Balancing;

public class QAverageTests
{
    [Fact]
    public void Update_MeanOverTheWindowThenExponential()
    {
        var live = new BalancingState("bip", 1, 2);
        var average = new QAverage(live, window: 3);
        float[] expected = [1f, 1.5f, 2f, 2f + ((4f - 2f) / 3f)];
        for (int step = 0; step < 4; step++)
        {
            live.Layer(0)[0] = step + 1; // q = 1, 2, 3, 4
            live.Layer(0)[1] = -(step + 1);
            average.Update(step);

            Assert.Equal(expected[step], average.State.Layer(0)[0], 5);
            Assert.Equal(-expected[step], average.State.Layer(0)[1], 5);
        }
    }

    [Fact]
    public void Restore_OtherShape_Throws()
    {
        var average = new QAverage(new BalancingState("bip", 2, 4));

        Assert.Throws<InvalidDataException>(() => average.Restore(new BalancingState("bip", 2, 8)));
    }
}
