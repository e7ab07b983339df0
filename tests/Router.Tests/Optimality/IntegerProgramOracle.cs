using Google.OrTools.LinearSolver;

namespace MoeServe.Router.Tests.Optimality;

/// <summary>
/// The exact optimum of the per-batch routing integer program (OR-Tools' SCIP MIP solver):
/// maximise sum s[i,j] x[i,j] subject to sum_j x[i,j] &lt;= k per token, sum_i x[i,j] &lt;= c per expert,
/// x binary.
/// </summary>
internal static class IntegerProgramOracle
{
    public static double Optimum(float[] scores, RoutingShape shape, int capacity)
    {
        int n = shape.Tokens;
        int m = shape.Experts;
        using Solver solver = Solver.CreateSolver("SCIP") ?? throw new InvalidOperationException("OR-Tools SCIP solver is not available.");
        var x = new Variable[n, m];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < m; j++)
            {
                x[i, j] = solver.MakeBoolVar($"x_{i}_{j}");
            }
        }

        for (int i = 0; i < n; i++)
        {
            Constraint row = solver.MakeConstraint(0, shape.TopK);
            for (int j = 0; j < m; j++)
            {
                row.SetCoefficient(x[i, j], 1);
            }
        }

        for (int j = 0; j < m; j++)
        {
            Constraint column = solver.MakeConstraint(0, capacity);
            for (int i = 0; i < n; i++)
            {
                column.SetCoefficient(x[i, j], 1);
            }
        }

        Objective objective = solver.Objective();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < m; j++)
            {
                objective.SetCoefficient(x[i, j], scores[(i * m) + j]);
            }
        }

        objective.SetMaximization();
        Solver.ResultStatus status = solver.Solve();
        if (status != Solver.ResultStatus.OPTIMAL)
        {
            throw new InvalidOperationException($"The MIP solver returned {status}.");
        }

        return objective.Value();
    }
}
