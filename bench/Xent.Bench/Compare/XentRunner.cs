namespace Xent.Bench.Compare;

/// <summary>
/// Xent on one <see cref="Case"/>: the logits in their element type, a pre-faulted gradient buffer, a one-element loss.
/// Nothing is allocated per call. fp32 (N, C) goes through the convenience overloads
/// (<c>Functional.CrossEntropy(ReadOnlySpan&lt;float&gt;, classes, …)</c>); everything else through the generic
/// shape-and-span overloads <c>Functional.CrossEntropy&lt;T, long&gt;</c> / <c>NllLoss&lt;T, long&gt;</c>.
/// </summary>
internal abstract class XentRunner
{
    /// <summary>Address of the logits (a pinned array), for the floors.</summary>
    public abstract nint InputAddress { get; }

    /// <summary>Address of a pinned scratch buffer as large as the logits, the copy floor's destination.</summary>
    public abstract nint ScratchAddress { get; }

    /// <summary>Runs the loss, with the gradient when <paramref name="backward"/>; returns the loss as a float.</summary>
    public abstract float Run(bool backward);

    /// <summary>The gradient of the last backward run, widened to fp32 into <paramref name="destination"/>.</summary>
    public abstract void GradientAsFloat(float[] destination);

    public static XentRunner Create(Case @case, Problem problem) => @case.Dtype switch
    {
        Dtype.Float32 => new XentRunner<float>(@case, problem),
        Dtype.Float16 => new XentRunner<Half>(@case, problem),
        _ => new XentRunner<BFloat16>(@case, problem),
    };
}

internal sealed class XentRunner<T> : XentRunner
    where T : unmanaged
{
    private readonly Case _case;
    private readonly Problem _problem;
    private readonly T[] _input;
    private readonly T[] _weight;
    private readonly T[] _grad;
    private readonly T[] _scratch;
    private readonly T[] _loss = new T[1];

    public XentRunner(Case @case, Problem problem)
    {
        _case = @case;
        _problem = problem;
        _input = typeof(T) == typeof(float) ? (T[])(object)problem.Input : Narrow(problem.Input, pinned: true);
        _weight = typeof(T) == typeof(float) ? (T[])(object)problem.Weight : Narrow(problem.Weight, pinned: false);
        _grad = Problem.NewPinned<T>(problem.Elements);
        _scratch = Problem.NewPinned<T>(problem.Elements);
    }

    public override nint InputAddress => CopyFloor.Address(_input);

    public override nint ScratchAddress => CopyFloor.Address(_scratch);

    public override float Run(bool backward)
    {
        Span<T> grad = backward ? _grad : default;
        if (typeof(T) == typeof(float) && _problem.Spatial.Length == 0)
        {
            var input = (float[])(object)_input;
            var weight = (float[])(object)_weight;
            var gradInput = (float[])(object)_grad;
            return _case.Nll
                ? Functional.NllLoss(input, _problem.Classes, _problem.Target, backward ? gradInput : [], Reduction.Mean, weight, Problem.IgnoreIndex)
                : Functional.CrossEntropy(input, _problem.Classes, _problem.Target, backward ? gradInput : [], Reduction.Mean, weight, Problem.IgnoreIndex, _case.LabelSmoothing);
        }

        if (_case.Nll)
        {
            Functional.NllLoss<T, long>(_input, _problem.InputShape, _problem.Target, _problem.TargetShape, _loss,
                Reduction.Mean, _weight, Problem.IgnoreIndex, grad);
        }
        else
        {
            Functional.CrossEntropy<T, long>(_input, _problem.InputShape, _problem.Target, _problem.TargetShape, _loss,
                Reduction.Mean, _weight, Problem.IgnoreIndex, _case.LabelSmoothing, grad);
        }

        return ToFloat(_loss[0]);
    }

    public override void GradientAsFloat(float[] destination)
    {
        Parallel.For(0, Environment.ProcessorCount, k =>
        {
            var (start, length) = Problem.Chunk(_grad.Length, k, Environment.ProcessorCount);
            for (int i = start; i < start + length; i++)
            {
                destination[i] = ToFloat(_grad[i]);
            }
        });
    }

    private static float ToFloat(T value) => value switch
    {
        float f => f,
        Half h => (float)h,
        BFloat16 b => b,
        _ => throw new NotSupportedException(typeof(T).Name),
    };

    private static T FromFloat(float value) => typeof(T) == typeof(Half)
        ? (T)(object)(Half)value
        : (T)(object)(BFloat16)value;

    private static T[] Narrow(float[] source, bool pinned)
    {
        var result = pinned ? Problem.NewPinned<T>(source.Length) : new T[source.Length];
        Parallel.For(0, Environment.ProcessorCount, k =>
        {
            var (start, length) = Problem.Chunk(source.Length, k, Environment.ProcessorCount);
            for (int i = start; i < start + length; i++)
            {
                result[i] = FromFloat(source[i]); // exact: the problem's values are already rounded to T
            }
        });
        return result;
    }
}
