using BenchmarkDotNet.Attributes;

namespace Xent.Bench;

/// <summary>The segmentation layout (8, 21, 512, 512) with (8, 512, 512) targets through the generic
/// shape-and-span overload <c>Functional.CrossEntropy&lt;float, long&gt;</c>.</summary>
[MemoryDiagnoser]
public class KDimBenchmarks
{
    private Problem _problem = null!;
    private float[] _grad = null!;
    private readonly float[] _loss = new float[1];

    [GlobalSetup]
    public void Setup()
    {
        _problem = Problem.Create(8, 21, [512, 512], weighted: false, Dtype.Float32);
        _grad = _problem.NewBuffer();
    }

    [Benchmark]
    public float Forward()
    {
        Functional.CrossEntropy<float, long>(_problem.Input, _problem.InputShape, _problem.Target, _problem.TargetShape, _loss);
        return _loss[0];
    }

    [Benchmark]
    public float ForwardBackward()
    {
        Functional.CrossEntropy<float, long>(_problem.Input, _problem.InputShape, _problem.Target, _problem.TargetShape, _loss,
            gradInput: _grad);
        return _loss[0];
    }
}
