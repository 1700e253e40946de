using BenchmarkDotNet.Attributes;

namespace Xent.Bench;

/// <summary>Functional.CrossEntropy (fp32 convenience overload), mean reduction, forward and forward+backward, at a
/// language-model and an ImageNet shape.</summary>
[MemoryDiagnoser]
public class CrossEntropyBenchmarks
{
    private Problem _problem = null!;
    private float[] _grad = null!;

    [Params("4096x32000", "16384x1000")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split('x');
        _problem = Problem.Create(int.Parse(parts[0]), int.Parse(parts[1]), weighted: false);
        _grad = _problem.NewBuffer();
    }

    [Benchmark]
    public float Forward() =>
        Functional.CrossEntropy(_problem.Input, _problem.Classes, _problem.Target, [], Reduction.Mean);

    [Benchmark]
    public float ForwardBackward() =>
        Functional.CrossEntropy(_problem.Input, _problem.Classes, _problem.Target, _grad, Reduction.Mean);
}
