using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Xent.Kernels;

namespace Xent.Bench.Compare;

/// <summary>
/// The <b>exp floor</b>: the time to take one float32 exp per logit with every core, the library's own exp (the one the
/// fused kernels inline), on a buffer that stays in L1, so that nothing but the arithmetic is counted. A loss over C
/// classes must take at least one exp per logit (the sum of exps; the backward reuses them), so no kernel with this exp
/// can beat this time, whatever the memory does: where a goal's time (goal × its copy floor) is below it, the goal is
/// out of reach on this machine with a float32-accurate exp.
/// </summary>
/// <remarks>AVX-512 only (the exp the table's kernels use here); elsewhere <see cref="IsSupported"/> is false and the
/// column shows "-".</remarks>
internal static class ExpFloor
{
    /// <summary>Floats per pass over the buffer: 8 KB, well inside L1.</summary>
    private const int BufferFloats = 2048;

    private static readonly float[] s_buffer = CreateBuffer();

    public static bool IsSupported => Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary>Takes <paramref name="elements"/> exps, split evenly over every core; returns their sum so that nothing
    /// can be optimized away. <paramref name="forSum"/>: the exp of the passes that only sum their exps (the loss alone,
    /// <c>FloatRows.ExpForSum</c>), two instructions shorter; otherwise the one whose results the gradient keeps.</summary>
    public static float Run(long elements, bool forSum = false) => Run(elements, forSum, Environment.ProcessorCount);

    /// <summary><see cref="Run(long, bool)"/> on <paramref name="workers"/> cores.</summary>
    public static float Run(long elements, bool forSum, int workers)
    {
        long passes = Math.Max(1, elements / BufferFloats);
        var partial = new float[workers];
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, k =>
        {
            long mine = passes * (k + 1) / workers - passes * k / workers;
            partial[k] = forSum ? Passes<SumExp>(mine) : Passes<KeptExp>(mine);
        });
        return partial.Sum();
    }

    /// <summary>One of the kernels' exps.</summary>
    private interface IExp
    {
        static abstract Vector512<float> Exp(Vector512<float> x);
    }

    /// <summary>The exp whose results the gradient keeps.</summary>
    private readonly struct KeptExp : IExp
    {
        public static Vector512<float> Exp(Vector512<float> x) => FloatRows.ExpNonPositive(x);
    }

    /// <summary>The exp of the passes that only sum their exps.</summary>
    private readonly struct SumExp : IExp
    {
        public static Vector512<float> Exp(Vector512<float> x) => FloatRows.ExpForSum(x);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float Passes<TExp>(long passes)
        where TExp : struct, IExp
    {
        // Four independent accumulators and exps, as the kernels' loops have them in flight.
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        fixed (float* p = s_buffer)
        {
            for (long pass = 0; pass < passes; pass++)
            {
                for (int i = 0; i < BufferFloats; i += 64)
                {
                    s0 += TExp.Exp(Vector512.Load(p + i));
                    s1 += TExp.Exp(Vector512.Load(p + i + 16));
                    s2 += TExp.Exp(Vector512.Load(p + i + 32));
                    s3 += TExp.Exp(Vector512.Load(p + i + 48));
                }
            }
        }

        return Vector512.Sum(s0 + s1 + s2 + s3);
    }

    /// <summary>x − max values as a row of logits gives them: spread over [−12, 0].</summary>
    private static float[] CreateBuffer()
    {
        var r = new Random(5);
        return [.. Enumerable.Range(0, BufferFloats).Select(_ => (float)(-12 * r.NextDouble()))];
    }
}
