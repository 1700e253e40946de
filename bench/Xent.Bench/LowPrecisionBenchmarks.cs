using BenchmarkDotNet.Attributes;
using Xent.Bench.Compare;

namespace Xent.Bench;

/// <summary>fp16 and bf16 logits through the generic overload <c>Functional.CrossEntropy&lt;T, long&gt;</c>, at
/// 4096 x 32000 and 16384 x 1000.</summary>
[MemoryDiagnoser]
public class LowPrecisionBenchmarks
{
    private XentRunner _xent = null!;

    [Params(Dtype.Float16, Dtype.BFloat16)]
    public Dtype Dtype { get; set; }

    [Params("4096x32000", "16384x1000")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split('x');
        var @case = new Case(Nll: false, int.Parse(parts[0]), int.Parse(parts[1]), Dtype);
        _xent = XentRunner.Create(@case, @case.CreateProblem());
    }

    [Benchmark]
    public float Forward() => _xent.Run(backward: false);

    [Benchmark]
    public float ForwardBackward() => _xent.Run(backward: true);
}
