using System.Numerics;
using Xent.Threading;

namespace Xent.Kernels;

/// <summary>NLL over log-probabilities viewed as (N, C, D): l = −w_t·x_t per position, and its gradient
/// −g·w_t at the target (the rest of the gradient is zeroed first, as PyTorch's <c>grad_input.zero_()</c>).</summary>
internal unsafe struct NllRows<T, TC, TTarget> : IBlockAction
    where T : unmanaged
    where TC : unmanaged, IFloatingPointIeee754<TC>
    where TTarget : unmanaged, IBinaryInteger<TTarget>
{
    /// <summary>Positions per block: NLL reads one element per position, so blocks are counted in positions.</summary>
    private const long BlockPositions = 1 << 14;

    public LossGeometry G;
    public T* Input;
    public TTarget* Target;
    public TC* Weight;
    public long IgnoreIndex;
    public T* Loss;
    public T* GradInput;
    public TC GradScale;
    public T* GradOutput;
    public double* Partials;

    public readonly long Blocks => (G.Positions + BlockPositions - 1) / BlockPositions;

    public void Run()
    {
        if (GradInput != null)
        {
            Clear(GradInput, G.Elements);
        }

        BlockParallel.For(Blocks, G.Positions * 16, ref this);
    }

    public readonly void Execute(long start, long end)
    {
        long d = G.D;
        long c = G.C;
        for (long block = start; block < end; block++)
        {
            long p0 = block * BlockPositions;
            long p1 = Math.Min(G.Positions, p0 + BlockPositions);
            double partial = 0;
            for (long p = p0; p < p1; p++)
            {
                long t = long.CreateTruncating(Target[p]);
                TC loss = TC.Zero;
                if (t != IgnoreIndex)
                {
                    long n = p / d;
                    long index = (n * c + t) * d + (p - n * d);
                    TC w = Weight == null ? TC.One : Weight[t];
                    loss = -Elements.ToCompute<T, TC>(Input[index]) * w;
                    if (GradInput != null)
                    {
                        TC g = GradOutput == null ? GradScale : GradScale * Elements.ToCompute<T, TC>(GradOutput[p]);
                        GradInput[index] = Elements.FromCompute<T, TC>(w * -g);
                    }
                }

                if (Loss != null)
                {
                    Loss[p] = Elements.FromCompute<T, TC>(loss);
                }

                partial += double.CreateTruncating(loss);
            }

            if (Partials != null)
            {
                Partials[block] = partial;
            }
        }
    }

    private static void Clear(T* destination, long count)
    {
        while (count > 0)
        {
            int chunk = (int)Math.Min(count, 1 << 28);
            new Span<T>(destination, chunk).Clear();
            destination += chunk;
            count -= chunk;
        }
    }
}
