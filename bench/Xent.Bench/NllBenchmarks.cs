using BenchmarkDotNet.Attributes;

namespace Xent.Bench;

/// <summary>Functional.NllLoss (fp32 convenience overload) at 4096 x 32000: the forward reads one element per row, the
/// backward writes the whole gradient (zeros but one element a row).</summary>
[MemoryDiagnoser]
public class NllBenchmarks
{
    private Problem _problem = null!;
    private float[] _grad = null!;

    [GlobalSetup]
    public void Setup()
    {
        _problem = Problem.Create(4096, 32000, weighted: false);
        _grad = _problem.NewBuffer();
    }

    [Benchmark]
    public float Forward() =>
        Functional.NllLoss(_problem.Input, _problem.Classes, _problem.Target, [], Reduction.Mean);

    [Benchmark]
    public float ForwardBackward() =>
        Functional.NllLoss(_problem.Input, _problem.Classes, _problem.Target, _grad, Reduction.Mean);
}
