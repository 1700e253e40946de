using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;
using TorchReduction = TorchSharp.torch.nn.Reduction;

namespace Xent.Bench.Agree;

/// <summary>What one side computed: the loss (one value, or one per position) and the input gradient, as doubles; or
/// the message it rejected the problem with.</summary>
internal sealed record Outcome(double[] Loss, double[] Grad, string? Error)
{
    public static Outcome Rejected(string message) => new([], [], message);
}

/// <summary>Xent on a case, in the case's element and target types.</summary>
internal static class XentSide
{
    public static Outcome Run(AgreeCase c)
    {
        Parallelism.MaxDegreeOfParallelism = c.Threads;
        return c.Dtype switch
        {
            ElementType.F32 => Run<float>(c, d => (float)d, v => v),
            ElementType.F64 => Run<double>(c, d => d, v => v),
            ElementType.F16 => Run<Half>(c, d => (Half)(float)d, v => (double)(float)v),
            _ => Run<BFloat16>(c, d => (BFloat16)(float)d, v => (float)v),
        };
    }

    private static Outcome Run<T>(AgreeCase c, Func<double, T> to, Func<T, double> from)
        where T : unmanaged
    {
        try
        {
            return c.TargetType switch
            {
                TargetType.Int => Run<T, int>(c, to, from, t => checked((int)t)),
                TargetType.Byte => Run<T, byte>(c, to, from, t => checked((byte)t)),
                _ => Run<T, long>(c, to, from, t => t),
            };
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException)
        {
            return Outcome.Rejected($"{e.GetType().Name}: {FirstLine(e.Message)}");
        }
    }

    private static Outcome Run<T, TTarget>(AgreeCase c, Func<double, T> to, Func<T, double> from, Func<long, TTarget> toTarget)
        where T : unmanaged
        where TTarget : unmanaged, System.Numerics.IBinaryInteger<TTarget>
    {
        T[] input = c.Input.Select(to).ToArray();
        nint[] inputShape = c.InputShape.Select(d => (nint)d).ToArray();
        T[] weight = c.Weight?.Select(to).ToArray() ?? [];
        T[] gradOutput = c.GradOutput.Select(to).ToArray();
        int lossLength = c.Reduction == Reduction.None ? (int)c.Positions : 1;
        T[] loss = new T[lossLength];
        T[] grad = new T[input.Length];
        if (c.Kind == LossKind.CeProb)
        {
            T[] probs = c.Probabilities.Select(to).ToArray();
            Functional.CrossEntropy<T>(input, inputShape, probs, loss, c.Reduction, weight, c.LabelSmoothing,
                gradInput: grad, gradOutput: gradOutput, ignoreIndex: c.IgnoreIndex);
        }
        else
        {
            TTarget[] target = c.Target.Select(toTarget).ToArray();
            nint[] targetShape = c.TargetShape.Select(d => (nint)d).ToArray();
            if (c.Kind == LossKind.CeClass)
            {
                Functional.CrossEntropy<T, TTarget>(input, inputShape, target, targetShape, loss, c.Reduction, weight,
                    c.IgnoreIndex, c.LabelSmoothing, grad, gradOutput);
            }
            else
            {
                Functional.NllLoss<T, TTarget>(input, inputShape, target, targetShape, loss, c.Reduction, weight,
                    c.IgnoreIndex, grad, gradOutput);
            }
        }

        return new Outcome(loss.Select(from).ToArray(), grad.Select(from).ToArray(), null);
    }

    internal static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}

/// <summary>libtorch (through TorchSharp) on a case, in a chosen element type: the values are exact in it, since the
/// case's values are already rounded to the case's type and the chosen type is that one or float64.</summary>
internal static class TorchSide
{
    public static ScalarType ScalarTypeOf(ElementType dtype) => dtype switch
    {
        ElementType.F32 => ScalarType.Float32,
        ElementType.F64 => ScalarType.Float64,
        ElementType.F16 => ScalarType.Float16,
        _ => ScalarType.BFloat16,
    };

    public static Outcome Run(AgreeCase c, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        try
        {
            var leaf = tensor(c.Input, c.InputShape).to(dtype).detach().requires_grad_(true);
            Tensor? weight = c.Weight is null ? null : tensor(c.Weight).to(dtype);
            var reduction = c.Reduction switch
            {
                Reduction.None => TorchReduction.None,
                Reduction.Sum => TorchReduction.Sum,
                _ => TorchReduction.Mean,
            };
            Tensor loss;
            if (c.Kind == LossKind.CeProb)
            {
                var probs = tensor(c.Probabilities, c.InputShape).to(dtype);
                loss = nn.functional.cross_entropy(leaf, probs, weight, c.IgnoreIndex, reduction, c.LabelSmoothing);
            }
            else if (c.Kind == LossKind.CeClass)
            {
                var target = tensor(c.Target, c.TargetShape);
                loss = nn.functional.cross_entropy(leaf, target, weight, c.IgnoreIndex, reduction, c.LabelSmoothing);
            }
            else
            {
                // TorchSharp's nll_loss passes libtorch's default ignore_index, -100, and (as the C++ frontend does)
                // wants a batch dimension. Ignoring is by value only, so moving the ignored targets to -100 computes the
                // same thing, and (C) with () is (1, C) with (1) with the batch dimension dropped again.
                long[] remapped = c.Target.Select(t => t == c.IgnoreIndex ? -100 : t).ToArray();
                var target = tensor(remapped, c.TargetShape);
                var input = leaf;
                if (c.InputShape.Length == 1)
                {
                    input = leaf.unsqueeze(0);
                    target = target.reshape(1);
                }

                loss = nn.functional.nll_loss(input, target, weight, reduction);
                if (c.InputShape.Length == 1 && c.Reduction == Reduction.None)
                {
                    loss = loss.reshape([]);
                }
            }

            var gradOutput = tensor(c.GradOutput).to(dtype).reshape(loss.shape);
            var grad = autograd.grad([loss], [leaf], [gradOutput])[0];
            return new Outcome(ToDoubles(loss), ToDoubles(grad), null);
        }
        catch (ExternalException e)
        {
            return Outcome.Rejected($"{e.GetType().Name}: {XentSide.FirstLine(e.Message)}");
        }
    }

    // TensorAccessor.ToArray throws on an empty tensor; the raw bytes do not.
    private static double[] ToDoubles(Tensor t) => t.numel() == 0
        ? []
        : MemoryMarshal.Cast<byte, double>(t.to(ScalarType.Float64).contiguous().bytes).ToArray();
}
