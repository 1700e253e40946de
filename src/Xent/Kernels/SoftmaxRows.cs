using System.Buffers;
using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Xent.Threading;

namespace Xent.Kernels;

/// <summary>What a softmax row computes.</summary>
internal enum RowKind
{
    /// <summary>Cross-entropy with a class index per position (label smoothing and weights included).</summary>
    ClassTarget,

    /// <summary>Cross-entropy with a probability per class and position.</summary>
    ProbabilityTarget,

    /// <summary>Log-softmax alone, written to the output.</summary>
    LogSoftmax,
}

/// <summary>How the K-dim kernel gathers x[t]: with 32-bit element indices up to this many elements per batch item,
/// 64-bit past it. Tests lower it to reach the 64-bit path without a 2^31-element tensor.</summary>
internal static class TargetGather
{
    internal static long NarrowIndexLimit = int.MaxValue;
}

/// <summary>The softmax-based kernels: cross-entropy (both target kinds) and log-softmax, forward and backward in one
/// call. Input is viewed as (N, C, D). Class targets on AVX-512 read each row (D = 1, <see cref="ClassRowFused"/>) or
/// each tile of positions (D &gt; 1, <see cref="TileLanes"/>) once, in its own element type; everything else takes the
/// general path, where D = 1 rows are used in place and D &gt; 1 tiles are gathered into rows of contiguous classes.</summary>
/// <remarks>
/// Per position, with m = max_c x_c, d_c = x_c − m, s = Σ_c exp(d_c) and log-probabilities logp_c = d_c − log s:
/// 1. class target t, smoothing ε, weights w (W = Σ_c w_c, or C without weights):
///    loss = (1 − ε)·w_t·(log s − d_t) + (ε/C)·(W·log s − Σ_c w_c·d_c)   (LossNLL.cpp's (1−ε)·nll + ε/C·smooth);
///    ∂loss/∂x_c = g·(p_c·A − (ε/C)·w_c − [c = t]·(1 − ε)·w_t), A = (1 − ε)·w_t + (ε/C)·W, p_c = exp(d_c)/s.
/// 2. probabilities t, t'_c = (1 − ε)·t_c + ε/C, u_c = w_c·t'_c, Q = Σ_c u_c:
///    loss = Q·log s − Σ_c u_c·d_c;  ∂loss/∂x_c = g·(p_c·Q − u_c).
/// g is the upstream gradient times the reduction's scale. Sums over d_c instead of over x_c avoid the cancellation of
/// Σ x_c − C·lse when the logits are large. The formulas hold with any reference r in place of m (log-softmax is
/// x − r − log Σ exp(x − r)). The kernels take the max as r, as PyTorch does: x − max is exact near the max, where the
/// large terms are, so a small loss and the large gradients keep float's digits; a loss alone takes the target's logit,
/// log Σ exp(x − x_t) with nothing subtracted from it, and checks that no exp overflowed.
/// </remarks>
internal unsafe struct SoftmaxRows<T, TC, TTarget> : IBlockAction
    where T : unmanaged
    where TC : unmanaged, IFloatingPointIeee754<TC>
    where TTarget : unmanaged, IBinaryInteger<TTarget>
{
    /// <summary>About this many compute elements per tile when D &gt; 1: 32 KiB of floats, so a tile, its
    /// gradient and its transposed source stay in L2. (The bench's <c>pattern</c> command cuts its tiles by it too.)</summary>
    internal const long TileElements = 1 << 15;

    /// <summary>About this many elements per block when D = 1 (whole rows): small enough to balance two to
    /// sixteen cores, large enough that the per-block bookkeeping is negligible.</summary>
    private const long BlockElements = 1 << 15;

    /// <summary>Rows up to this many classes keep their exps in a scratch row (256 KiB, a quarter of a Zen 4 L2) between
    /// the sum and the gradient write; longer rows recompute the exp instead of spilling the scratch to L3.</summary>
    private const int ScratchClasses = 1 << 16;

    /// <summary>Rows up to this many classes take the one-read path (<see cref="ClassRowFused"/>) with a gradient: its
    /// exps (1 MiB at most) stay in L2 or L3 until the gradient pass, still cheaper than a second exp per logit
    /// (64 × 256000: float32 5.4 → 4.6-5.2 ms, float16 5.1 → 4.4 ms with 2 threads).</summary>
    private const int FusedClasses = 1 << 18;

    /// <summary>Gradients larger than this (about a third of the 32 MiB L3) are written with non-temporal stores: they
    /// cannot stay in cache anyway, and skipping the read-for-ownership saves a third of the traffic.</summary>
    private const long NonTemporalBytes = 12L << 20;

    /// <summary>Whether the row kernels store a row's gradient past the cache: a gradient past
    /// <see cref="NonTemporalBytes"/>, in rows of 4 KB or more (float) or 16 KB or more (16-bit); shorter rows, whose ends
    /// share a line with the next row's, are faster stored plainly. Alternated call by call with plain stores (fwd+bwd,
    /// 2 threads, median time ratio streamed/plain): float32 1000 classes 1.12 (1 thread 1.34), 2000 0.99, 4000 0.91,
    /// 8192 0.90, 32000 0.81; 16-bit 1000 classes 1.66–1.79, 32000 0.85–0.86. (Shorter float rows streamed, with AVX-512
    /// off: float32 16384 × 1000 forward+backward 12–13 → 14.6–15.1 ms on one thread.)</summary>
    private readonly bool StreamsRows =>
        G.Elements * sizeof(T) >= NonTemporalBytes && G.C * sizeof(T) >= (typeof(T) == typeof(float) ? 4096 : 16384);

    public RowKind Kind;
    public LossGeometry G;
    public T* Input;
    public TTarget* Target;
    public T* ProbTarget;
    public TC* Weight;
    public TC WeightSum;
    public long IgnoreIndex;
    public TC Smoothing;
    public T* Loss;
    public T* Output;
    public TC GradScale;
    public T* GradOutput;
    public double* Partials;

    private long _rowsPerBlock;
    private long _tileWidth;
    private long _tilesPerBatch;

    public long Blocks
    {
        get
        {
            if (G.D == 1)
            {
                return (G.N + _rowsPerBlock - 1) / _rowsPerBlock;
            }

            return G.N * _tilesPerBatch;
        }
    }

    /// <summary>Fixes the block boundaries from the shape alone, so results do not depend on the thread count.</summary>
    public void Plan()
    {
        long c = Math.Max(1, G.C);
        _rowsPerBlock = Math.Max(1, BlockElements / c);
        _tileWidth = Math.Clamp(TileElements / c, 1, Math.Max(1, G.D));
        if (_tileWidth >= 32)
        {
            // Whole pairs of 16-position vectors, so the vectorized-across-positions kernel leaves no tail inside a tile
            // and its 16-bit gradient fills whole lines.
            _tileWidth &= ~31L;
        }
        else if (_tileWidth >= 16)
        {
            _tileWidth &= ~15L;
        }

        _tilesPerBatch = (G.D + _tileWidth - 1) / _tileWidth;
    }

    public void Run()
    {
        Plan();
        BlockParallel.For(Blocks, G.Elements, ref this);
    }

    public void Execute(long start, long end)
    {
        int c = G.C;
        bool inPlace = G.D == 1 && typeof(T) == typeof(TC);
        int rowElements = G.D == 1 ? c : checked((int)(_tileWidth * c));
        TC[]? xs = inPlace ? null : ArrayPool<TC>.Shared.Rent(rowElements);
        TC[]? ts = inPlace || Kind != RowKind.ProbabilityTarget ? null : ArrayPool<TC>.Shared.Rent(rowElements);
        TC[]? gs = inPlace || Output == null ? null : ArrayPool<TC>.Shared.Rent(rowElements);
        TC[] tmp = ArrayPool<TC>.Shared.Rent(Math.Max(1, c));
        TC[] tmp2 = ArrayPool<TC>.Shared.Rent(Math.Max(1, c));
        try
        {
            for (long block = start; block < end; block++)
            {
                double partial = G.D == 1
                    ? RowBlock(block, xs, ts, gs, tmp, tmp2)
                    : TileBlock(block, xs!, ts, gs, tmp, tmp2);
                if (Partials != null)
                {
                    Partials[block] = partial;
                }
            }

            if (Sse.IsSupported)
            {
                // Non-temporal stores are weakly ordered, even against the locked instructions that signal the end
                // of this worker's blocks: make them visible first.
                Sse.StoreFence();
            }
        }
        finally
        {
            if (xs != null) ArrayPool<TC>.Shared.Return(xs);
            if (ts != null) ArrayPool<TC>.Shared.Return(ts);
            if (gs != null) ArrayPool<TC>.Shared.Return(gs);
            ArrayPool<TC>.Shared.Return(tmp);
            ArrayPool<TC>.Shared.Return(tmp2);
        }
    }

    private double RowBlock(long block, TC[]? xs, TC[]? ts, TC[]? gs, TC[] tmp, TC[] tmp2)
    {
        int c = G.C;
        long r0 = block * _rowsPerBlock;
        long r1 = Math.Min(G.N, r0 + _rowsPerBlock);
        double partial = 0;
        // Class targets, float32 / float16 / bfloat16 on AVX-512: one read of the row (ClassRowFused); rows it declines
        // (NaN, ±∞, all −∞) and other kinds take the path below.
        bool fused = Kind == RowKind.ClassTarget && typeof(TC) == typeof(float) && Avx512F.IsSupported
            && (typeof(T) == typeof(float) || LowRows.IsSupported<T>()) && c >= 16
            && (Output == null || c <= FusedClasses);
        // bfloat16 probability targets on AVX-512: read in place, without a float copy of the row (rows it declines, with
        // a non-finite max or sum, take the widened path below). 4096 × 32000 forward+backward 32% faster on one thread,
        // 39% on two; float16, whose exact widening takes 7 instructions per 16 in each pass, measured 15% slower so.
        bool lowProbabilities = Kind == RowKind.ProbabilityTarget && typeof(TC) == typeof(float) && typeof(T) == typeof(BFloat16)
            && Avx512F.IsSupported && LowRows.IsSupported<T>() && c >= 16;
        // float16 and bfloat16 rows of 16 classes or more on AVX2 (without AVX-512):
        bool avx2Low = typeof(TC) == typeof(float) && !Avx512F.IsSupported && LowRows.IsSupported256<T>() && c >= 16;
        // - class targets with a gradient: the row widened and its max taken in one pass, the gradient narrowed as it is
        //   computed (LowRows.WidenMax256, AffineNarrow);
        bool low256 = avx2Low && Kind == RowKind.ClassTarget && Output != null && xs != null && gs != null && c <= ScratchClasses;
        // - probability targets: the row widened with its max in one pass;
        bool lowProbabilities256 = avx2Low && Kind == RowKind.ProbabilityTarget && xs != null;
        // - the loss alone, without smoothing: one read of the row, in chunks widened in L1 (FloatRows.SumExpOneRead with
        //   a chunk).
        bool lowForward256 = avx2Low && Kind == RowKind.ClassTarget && Output == null && Smoothing == TC.Zero;
        float knownMax = float.NaN;   // this row's max when the row before took it (ClassRowFused)
        for (long r = r0; r < r1; r++)
        {
            T* src = Input + r * c;
            float rowMax = knownMax;
            knownMax = float.NaN;
            if (Kind == RowKind.ClassTarget && long.CreateTruncating(Target[r]) == IgnoreIndex)
            {
                // An ignored row: loss 0 and gradient 0 whatever its logits, without reading them.
                if (Loss != null)
                {
                    Loss[r] = default;
                }

                if (Output != null)
                {
                    new Span<T>(Output + r * c, c).Clear();
                }

                continue;
            }

            if (fused)
            {
                fixed (TC* pe = tmp)
                {
                    T* next = r + 1 < r1 && long.CreateTruncating(Target[r + 1]) != IgnoreIndex ? src + c : null;
                    TC loss = ClassRowFused(src, (int)long.CreateTruncating(Target[r]), (float*)pe, Output == null ? null : Output + r * c,
                        Upstream(r), rowMax, next, out knownMax, out bool done);
                    if (done)
                    {
                        partial += RowLoss(r, loss);
                        continue;
                    }
                }
            }

            if (lowForward256)
            {
                fixed (TC* pt = tmp)
                {
                    if (FloatRows.SumExpOneRead(src, c, out float mf, out float sf, (float*)pt))
                    {
                        int target = (int)long.CreateTruncating(Target[r]);
                        float xt = Elements.ToCompute<T, float>(src[target]);
                        partial += RowLoss(r, TC.CreateTruncating(ClassRowTerms(target, sf, xt - mf, 0f, 0f, out _, out _, out _)));
                        continue;
                    }
                }
            }

            if (low256)
            {
                fixed (TC* px = xs)
                {
                    float m = LowRows.WidenMax256(src, (float*)px, c);
                    TC loss = ClassRowFloat(xs.AsSpan(0, c), (int)long.CreateTruncating(Target[r]), gs.AsSpan(0, c), tmp, Upstream(r), m,
                        Output + r * c, out bool narrowed);
                    partial += RowLoss(r, loss);
                    if (!narrowed)
                    {
                        Elements.Narrow(gs.AsSpan(0, c), new Span<T>(Output + r * c, c));
                    }
                }

                continue;
            }

            if (lowProbabilities)
            {
                fixed (TC* pe = tmp)
                {
                    TC loss = ProbabilityRowLow(src, ProbTarget + r * c, Output == null ? null : Output + r * c, (float*)pe, Upstream(r), out bool done);
                    if (done)
                    {
                        partial += RowLoss(r, loss);
                        continue;
                    }
                }
            }

            Span<TC> x;
            Span<TC> t = default;
            Span<TC> dst = default;
            if (xs == null)
            {
                x = new Span<TC>(src, c);
                if (Kind == RowKind.ProbabilityTarget)
                {
                    t = new Span<TC>(ProbTarget + r * c, c);
                }

                if (Output != null)
                {
                    dst = new Span<TC>(Output + r * c, c);
                }
            }
            else
            {
                x = xs.AsSpan(0, c);
                if (lowProbabilities256)
                {
                    fixed (TC* px = xs)
                    {
                        rowMax = LowRows.WidenMax256(src, (float*)px, c);
                    }
                }
                else
                {
                    Elements.Widen(new ReadOnlySpan<T>(src, c), x);
                }

                if (ts != null)
                {
                    t = ts.AsSpan(0, c);
                    Elements.Widen(new ReadOnlySpan<T>(ProbTarget + r * c, c), t);
                }

                if (gs != null)
                {
                    dst = gs.AsSpan(0, c);
                }
            }

            if (Kind == RowKind.ProbabilityTarget && xs == null && typeof(TC) == typeof(float) && Avx512F.IsSupported && c > 0)
            {
                // float32 rows in place: each row's exps take the next row's max, so that no row needs a pass of its own
                // for it. Alternated call by call with the max pass (2 threads, median ratio): 16384 × 1000 0.93–0.96 of
                // the time; 4096 × 32000 0.99–1.01 (there the exps already prefetched the next row into L2).
                TC loss = ProbabilityRowFloat(x, t, dst, tmp, tmp2, Upstream(r), rowMax, r + 1 < r1 ? (float*)(src + c) : null, out knownMax);
                partial += RowLoss(r, loss);
                continue;
            }

            partial += lowProbabilities256
                ? RowLoss(r, ProbabilityRowFloat(x, t, dst, tmp, tmp2, Upstream(r), rowMax, null, out _))
                : double.CreateTruncating(Row(r, x, t, dst, tmp, tmp2));
            if (gs != null)
            {
                if (typeof(TC) == typeof(float) && sizeof(T) == 2 && StreamsRows)
                {
                    Elements.NarrowStreamed(MemoryMarshal.Cast<TC, float>(dst), new Span<T>(Output + r * c, c));
                }
                else
                {
                    Elements.Narrow(dst, new Span<T>(Output + r * c, c));
                }
            }
        }

        return partial;
    }

    /// <summary>A probability target under label smoothing as t' = keep·t + add: keep = 1 − ε and add = ε/C, or 1 and 0
    /// without smoothing (also for C = 0).</summary>
    private readonly (float Keep, float Add) SmoothedTarget
    {
        get
        {
            float eps = float.CreateTruncating(Smoothing);
            return eps != 0f ? (1f - eps, eps / G.C) : (1f, 0f);
        }
    }

    /// <summary>Row <paramref name="r"/>'s loss stored (where losses are kept) and returned for the block's sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly double RowLoss(long r, TC loss)
    {
        if (Loss != null)
        {
            Loss[r] = Elements.FromCompute<T, TC>(loss);
        }

        return double.CreateTruncating(loss);
    }

    private double TileBlock(long block, TC[] xs, TC[]? ts, TC[]? gs, TC[] tmp, TC[] tmp2)
    {
        int c = G.C;
        long d = G.D;
        long n = block / _tilesPerBatch;
        long j0 = block % _tilesPerBatch * _tileWidth;
        int width = (int)Math.Min(_tileWidth, d - j0);
        int lanes = width & ~15;
        if (typeof(TC) != typeof(float) || c == 0 || lanes == 0)
        {
            return Positions(n, j0, width, xs, ts, gs, tmp, tmp2);
        }

        if (!Avx512F.IsSupported || Kind != RowKind.ClassTarget)
        {
            return Vector128.IsHardwareAccelerated
                ? PortableTileBlock(n, j0, width, lanes, xs, ts, gs, tmp, tmp2)
                : Positions(n, j0, width, xs, ts, gs, tmp, tmp2);
        }

        // The logits are read in place (class stride D), Half and BFloat16 widened in registers as they are loaded;
        // the gradient is written in place too, narrowed in registers.
        if (typeof(T) != typeof(float) && !LowRows.IsSupported<T>())
        {
            return Positions(n, j0, width, xs, ts, gs, tmp, tmp2);
        }

        double partial = 0;
        float[] scratch = ArrayPool<float>.Shared.Rent(LaneArrays * lanes);
        float[] xt = ArrayPool<float>.Shared.Rent(Output != null ? c * lanes : 1);   // the exps, for the gradient
        try
        {
            fixed (float* pscratch = scratch)
            fixed (float* pxt = xt)
            {
                T* src = Input + n * c * d + j0;
                T* o0 = Output == null ? null : Output + n * c * d + j0;
                partial += TileLanes(n * d + j0, lanes, src, pxt, o0, d, pscratch, out int* ok);
                partial += LeftToTheGeneralPath(n, j0, width, lanes, ok, xs, ts, gs, tmp, tmp2);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
            ArrayPool<float>.Shared.Return(xt);
        }

        return partial;
    }

    /// <summary>What a tile kernel left of its <paramref name="width"/> positions, one at a time on the general path: the
    /// groups of 16 with a 0 in <paramref name="ok"/> (a non-finite logit) and the positions past
    /// <paramref name="lanes"/>.</summary>
    private double LeftToTheGeneralPath(long n, long j0, int width, int lanes, int* ok, TC[] xs, TC[]? ts, TC[]? gs, TC[] tmp, TC[] tmp2)
    {
        double partial = 0;
        for (int g = 0; g < lanes; g += 16)
        {
            if (ok[g / 16] == 0)
            {
                partial += Positions(n, j0 + g, 16, xs, ts, gs, tmp, tmp2);
            }
        }

        if (lanes < width)
        {
            partial += Positions(n, j0 + lanes, width - lanes, xs, ts, gs, tmp, tmp2);
        }

        return partial;
    }

    /// <summary><see cref="TileBlock"/> without AVX-512, and for probability targets and log-softmax with it:
    /// <see cref="PortableTileLanes{TV, TIo}"/> in 512-bit lanes (AVX-512), 256-bit ones (AVX2 with FMA) or 128-bit ones (Arm,
    /// x86 below AVX2), then the general path for the groups of 16 positions it leaves and for the last width mod 16.
    /// float16 and bfloat16 tiles (and their probability targets) are widened into a float tile first and their gradient
    /// narrowed from one, so that they are the float32 kernel's results rounded once; class targets in 256-bit lanes do
    /// the same in registers (<see cref="Direct16{TV}"/>).</summary>
    private double PortableTileBlock(long n, long j0, int width, int lanes, TC[] xs, TC[]? ts, TC[]? gs, TC[] tmp, TC[] tmp2)
    {
        int c = G.C;
        long d = G.D;
        // float16 and bfloat16 class targets in 256-bit lanes are read and written in place, widened and narrowed in
        // registers (Direct16).
        bool direct = Kind == RowKind.ClassTarget && !Avx512F.IsSupported && Direct16<Linear.RowVector256>();
        bool wide = typeof(T) != typeof(float) && !direct;
        double partial = 0;
        float[] scratch = ArrayPool<float>.Shared.Rent(PortableLaneArrays * lanes + lanes / 16);
        float[] exps = ArrayPool<float>.Shared.Rent(Output != null && Kind != RowKind.LogSoftmax ? c * lanes : 1);
        bool probabilities = Kind == RowKind.ProbabilityTarget;
        float[] tile = ArrayPool<float>.Shared.Rent(wide ? c * lanes * (1 + (Output != null ? 1 : 0) + (probabilities ? 1 : 0)) : 1);
        try
        {
            fixed (float* pscratch = scratch)
            fixed (float* pexps = exps)
            fixed (float* ptile = tile)
            {
                int* ok = (int*)(pscratch + PortableLaneArrays * lanes);
                T* input = Input + n * c * d + j0;
                T* output = Output == null ? null : Output + n * c * d + j0;
                T* target = probabilities ? ProbTarget + n * c * d + j0 : null;
                float* src = (float*)input, o = (float*)output, pt = (float*)target;
                long srcStride = d, outStride = d;
                if (wide)
                {
                    float* next = ptile;
                    src = next;
                    next += c * lanes;
                    if (probabilities)
                    {
                        pt = next;
                        next += c * lanes;
                    }

                    for (int k = 0; k < c; k++)
                    {
                        Elements.Widen(new ReadOnlySpan<T>(input + k * d, lanes), new Span<float>(src + k * lanes, lanes));
                        if (probabilities)
                        {
                            Elements.Widen(new ReadOnlySpan<T>(target + k * d, lanes), new Span<float>(pt + k * lanes, lanes));
                        }
                    }

                    srcStride = lanes;
                    o = output == null ? null : next;
                    outStride = lanes;
                }

                partial += direct
                    ? PortableTileLanes<Linear.RowVector256, T>(n * d + j0, lanes, input, null, d, output, d, pscratch, pexps, ok)
                    : Avx512F.IsSupported
                    ? PortableTile<Linear.RowVector512>(n * d + j0, lanes, src, pt, srcStride, o, outStride, pscratch, pexps, ok)
                    : FloatRows.IsAvx2
                    ? PortableTile<Linear.RowVector256>(n * d + j0, lanes, src, pt, srcStride, o, outStride, pscratch, pexps, ok)
                    : PortableTile<Linear.RowVector128>(n * d + j0, lanes, src, pt, srcStride, o, outStride, pscratch, pexps, ok);

                if (wide && output != null)
                {
                    for (int k = 0; k < c; k++)
                    {
                        Elements.Narrow(new ReadOnlySpan<float>(o + k * lanes, lanes), new Span<T>(output + k * d, lanes));
                    }
                }

                partial += LeftToTheGeneralPath(n, j0, width, lanes, ok, xs, ts, gs, tmp, tmp2);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
            ArrayPool<float>.Shared.Return(exps);
            ArrayPool<float>.Shared.Return(tile);
        }

        return partial;
    }

    /// <summary>The tile kernel for this kind, in <typeparamref name="TV"/>'s lanes: <see cref="PortableLogSoftmax{TV}"/>
    /// (which has no loss: 0) or <see cref="PortableTileLanes{TV, TIo}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly double PortableTile<TV>(long p0, int lanes, float* src, float* pt, long srcStride, float* o, long outStride, float* scratch, float* e, int* ok)
        where TV : struct, Linear.IRowVector<TV>
    {
        if (Kind == RowKind.LogSoftmax)
        {
            PortableLogSoftmax<TV>(lanes, src, srcStride, o, outStride, scratch, ok);
            return 0;
        }

        return PortableTileLanes<TV, float>(p0, lanes, src, pt, srcStride, o, outStride, scratch, e, ok);
    }

    /// <summary>Log-softmax over the classes for <paramref name="lanes"/> (a multiple of 16) consecutive positions, read
    /// from <paramref name="src"/> and written to <paramref name="o"/> (class strides <paramref name="srcStride"/> and
    /// <paramref name="outStride"/>), as <see cref="LogSoftmaxFloat"/> takes a row: the max m and s = Σ exp(x − m) (in
    /// blocks of 16 classes, as <see cref="PortableTileLanes{TV, TIo}"/> sums), then (x − m) − log s one contiguous run per
    /// class. A group of 16 positions with a non-finite max or sum is left, with a 0 in <paramref name="ok"/>, for the
    /// general path (PyTorch's NaNs and infinities).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private readonly void PortableLogSoftmax<TV>(int lanes, float* src, long srcStride, float* o, long outStride, float* scratch, int* ok)
        where TV : struct, Linear.IRowVector<TV>
    {
        int c = G.C;
        long d = srcStride;
        float* mx = scratch, s = mx + lanes;
        int step = TV.Count;
        // The next pair's max in this pair's class loop, as PortableExpPass takes it.
        bool next = FusesNextMax<TV, float>(srcStride);
        (TV n0, TV n1) = next ? PairMax<TV, float>(src, Math.Min(step, lanes - step), c, d) : (default, default);
        for (int l = 0; l < lanes; l += 2 * step)
        {
            int h = Math.Min(step, lanes - step - l);
            (TV m0, TV m1) = next ? (n0, n1) : PairMax<TV, float>(src + l, h, c, d);
            int ln = l + 2 * step < lanes ? l + 2 * step : l;
            int hn = Math.Min(step, lanes - step - ln);
            float* nrow = src + ln;
            (n0, n1) = (TV.Create(float.NegativeInfinity), TV.Create(float.NegativeInfinity));
            float* row = src + l;
            for (int k0 = 0; k0 < c; k0 += PortableSumBlock)
            {
                TV s0 = TV.Create(0f), s1 = s0;
                for (int k = k0, kEnd = Math.Min(c, k0 + PortableSumBlock); k < kEnd; k++, row += d, nrow += d)
                {
                    if (next)
                    {
                        PrefetchPairAhead<TV, float>(nrow);
                        n0 = TV.MaxNative(n0, TV.Load(nrow));
                        n1 = TV.MaxNative(n1, TV.Load(nrow + hn));
                    }

                    s0 = TV.Add(s0, TV.Exp(TV.Subtract(TV.Load(row), m0)));
                    s1 = TV.Add(s1, TV.Exp(TV.Subtract(TV.Load(row + h), m1)));
                }

                StorePartials(s0, s1, s + l, h, k0 != 0);
            }

            TV.Store(m0, mx + l);
            TV.Store(m1, mx + l + h);
        }

        for (int g = 0; g < lanes / 16; g++)
        {
            ok[g] = 1;
        }

        for (int l = 0; l < lanes; l++)
        {
            if (!float.IsFinite(mx[l]) || !float.IsFinite(s[l]))
            {
                ok[l / 16] = 0;
            }

            s[l] = MathF.Log(s[l]);
        }

        for (int k = 0; k < c; k++)
        {
            float* row = src + k * d;
            float* run = o + k * outStride;
            for (int l = 0; l < lanes; l += step)
            {
                TV.Store(TV.Subtract(TV.Subtract(TV.Load(row + l), TV.Load(mx + l)), TV.Load(s + l)), run + l);
            }
        }
    }

    /// <summary>The lines of a pair of <typeparamref name="TV"/> vectors 1024 positions past <paramref name="at"/>, into
    /// L2, as TileLanes' class loop prefetches (x86; elsewhere nothing).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchPairAhead<TV, TIo>(TIo* at)
        where TV : struct, Linear.IRowVector<TV>
        where TIo : unmanaged
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch2(at + 1024);
            if (TV.Count * 2 * sizeof(TIo) > 64)
            {
                Sse.Prefetch2(at + 1024 + 64 / sizeof(TIo));
            }
        }
    }

    /// <summary>Whether <see cref="PortableTileLanes{TV, TIo}"/> reads float16 and bfloat16 logits and writes their
    /// gradient in place, widened and narrowed in registers, in <typeparamref name="TV"/>'s lanes (256 bits, AVX2 and
    /// FMA).</summary>
    private static bool Direct16<TV>()
        where TV : struct, Linear.IRowVector<TV> =>
        (typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16)) && typeof(TV) == typeof(Linear.RowVector256) && HalfVectors.IsVector256Supported;

    /// <summary>A vector of positions from <paramref name="p"/>: floats as they are, float16 and bfloat16 widened
    /// (<see cref="Direct16{TV}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV LoadAs<TV, TIo>(TIo* p)
        where TV : struct, Linear.IRowVector<TV>
        where TIo : unmanaged
    {
        if (typeof(TIo) == typeof(float))
        {
            return TV.Load((float*)p);
        }

        Debug.Assert(typeof(TV) == typeof(Linear.RowVector256), "Direct16");
        return Unsafe.BitCast<Vector256<float>, TV>(LowRows.Load256(p));
    }

    /// <summary>Stores 16 gradients from <paramref name="gradient"/>'s positions from <paramref name="l"/>, rounded to
    /// <typeparamref name="T"/> as <see cref="Elements.Narrow{T, TC}"/> rounds them (<see cref="Direct16{TV}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreNarrow16<TV, TG>(ref TG gradient, int l, ushort* to)
        where TV : struct, Linear.IRowVector<TV>
        where TG : struct, IRunGradient<TV>
    {
        Debug.Assert(typeof(TV) == typeof(Linear.RowVector256), "Direct16");
        LowRows.Narrow256<T>(Unsafe.BitCast<TV, Vector256<float>>(gradient.At(l)), Unsafe.BitCast<TV, Vector256<float>>(gradient.At(l + 8))).Store(to);
    }

    /// <summary>The max over the <paramref name="c"/> classes (class stride <paramref name="d"/>) of the vector of
    /// positions at <paramref name="row"/> and of the one <paramref name="h"/> further, with the machine's own max (which
    /// may drop a NaN: the sum of exps shows it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (TV M0, TV M1) PairMax<TV, TIo>(TIo* row, int h, int c, long d)
        where TV : struct, Linear.IRowVector<TV>
        where TIo : unmanaged
    {
        TV m0 = TV.Create(float.NegativeInfinity), m1 = m0;
        for (int k = 0; k < c; k++, row += d)
        {
            // (In a widened copy, L2 already: no use and no harm.)
            PrefetchPairAhead<TV, TIo>(row);
            m0 = TV.MaxNative(m0, LoadAs<TV, TIo>(row));
            m1 = TV.MaxNative(m1, LoadAs<TV, TIo>(row + h));
        }

        return (m0, m1);
    }

    /// <summary>Stores a block's partial sums for a pair of vectors of positions at <paramref name="at"/> and
    /// <paramref name="h"/> further, added to what is there when <paramref name="add"/> (with h = 0 the second store
    /// repeats the first, the same value).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePartials<TV>(TV v0, TV v1, float* at, int h, bool add)
        where TV : struct, Linear.IRowVector<TV>
    {
        if (add)
        {
            v0 = TV.Add(TV.Load(at), v0);
            v1 = TV.Add(TV.Load(at + h), v1);
        }

        TV.Store(v0, at);
        TV.Store(v1, at + h);
    }

    /// <summary>Classes per block of <see cref="PortableTileLanes{TV, TIo}"/>' sums.</summary>
    private const int PortableSumBlock = 16;

    /// <summary>Per-position float arrays <see cref="PortableTileLanes{TV, TIo}"/> keeps in its scratch.</summary>
    private const int PortableLaneArrays = 9;

    /// <summary>Cross-entropy for <paramref name="lanes"/> (a multiple of 16) consecutive positions from
    /// <paramref name="p0"/> of a (N, C, D) input, read as floats from <paramref name="src"/> (class stride
    /// <paramref name="srcStride"/>; <typeparamref name="TIo"/> float, or for class targets float16 or bfloat16 widened
    /// as they are loaded and their gradient narrowed as it is stored, <see cref="Direct16{TV}"/>), with class targets
    /// or, when <paramref name="pt"/> is not null, the probability
    /// targets there (the same layout), and its gradient written to <paramref name="o"/> (class stride
    /// <paramref name="outStride"/>; null for none). Vectorized across positions as <see cref="TileLanes"/> is, in a
    /// simpler form: per pair of vectors of positions, the max over the classes and then the exps against it (their sum,
    /// Σ w·(x − max) for smoothing, for probabilities q = Σ u and Σ u·(x − max) with u = w·((1 − ε)·t + ε/C), and the exps
    /// kept in <paramref name="e"/>, C × lanes floats); the coefficients per position (<see cref="ClassRowTerms"/> and
    /// <see cref="ProbabilityRowFloat(Span{TC}, Span{TC}, Span{TC}, TC[], TC[], TC)"/>'s formulas); the gradient one
    /// contiguous run per class, and for class targets each target's own term over it (<see cref="TargetGradient"/>).
    /// Every load and store is contiguous; nothing is transposed. A group of 16 positions with a non-finite max or sum at a
    /// position that counts is left, with a 0 in <paramref name="ok"/>, for the general path; an ignored position gets loss
    /// 0 and gradient 0 whatever its logits. Returns the sum of the tile's losses, in position order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private readonly double PortableTileLanes<TV, TIo>(long p0, int lanes, TIo* src, float* pt, long srcStride, TIo* o, long outStride, float* scratch, float* e, int* ok)
        where TV : struct, Linear.IRowVector<TV>
        where TIo : unmanaged
    {
        Debug.Assert(typeof(TIo) == typeof(float) || (typeof(TIo) == typeof(T) && pt == null && Direct16<TV>()), "16-bit in place: class targets in 256-bit lanes");
        int c = G.C;
        long d = srcStride;
        float* w = (float*)Weight;
        float eps = float.CreateTruncating(Smoothing);
        bool smoothed = eps != 0f;
        bool probabilities = pt != null;
        (float keep, float add) = SmoothedTarget;
        TV keepV = TV.Create(keep), addV = TV.Create(add);
        // For probabilities, sumWd holds Σ u·(x − max) and fix holds q = Σ u until the coefficients replace them.
        float* mx = scratch, s = mx + lanes, sumWd = s + lanes, a = sumWd + lanes, b = a + lanes, fix = b + lanes, loss = fix + lanes;
        float* tf = loss + lanes;   // class targets: the target as a float, −1 where ignored
        float* xt = tf + lanes;     // class targets: x_t, picked in the class loop
        int step = TV.Count;
        if (!probabilities)
        {
            for (int l = 0; l < lanes; l++)
            {
                long t = long.CreateTruncating(Target[p0 + l]);
                tf[l] = t == IgnoreIndex ? -1f : t;
            }
        }

        // 1. The max, the exps and their sums (PortableExpPass), compiled for the tile's flags.
        if (FusesNextMax<TV, TIo>(srcStride))
        {
            PortableExpPass<TV, TIo, Set>(o != null, probabilities, smoothed, src, pt, c, d, lanes, e, w, keepV, addV, mx, s, sumWd, fix, tf, xt);
        }
        else
        {
            PortableExpPass<TV, TIo, Clear>(o != null, probabilities, smoothed, src, pt, c, d, lanes, e, w, keepV, addV, mx, s, sumWd, fix, tf, xt);
        }

        // 2. Per position: the loss and the gradient's coefficients.
        for (int g = 0; g < lanes / 16; g++)
        {
            ok[g] = 1;
        }

        for (int l = 0; l < lanes; l++)
        {
            if (probabilities)
            {
                if (!float.IsFinite(mx[l]) || !float.IsFinite(s[l]) || !float.IsFinite(sumWd[l]))
                {
                    ok[l / 16] = 0;   // a NaN or an infinity among the logits or targets: the general path
                    continue;
                }

                float gp = float.CreateTruncating(Upstream(p0 + l));
                float q = fix[l];
                loss[l] = q * MathF.Log(s[l]) - sumWd[l];
                a[l] = gp * q / s[l];
                b[l] = gp;
                continue;
            }

            // Class targets: here the gathers and checks, one position at a time, into the arrays the vector pass below
            // reads (mx takes x_t − max, a the target's weight, b the upstream gradient); an ignored position gets
            // neutral values, and that pass gives it loss, a and b of 0.
            // (The exps of an ignored position, which may be NaN or ∞, step 1 zeroed, so that its gradient is 0.)
            float t = tf[l];
            if (t < 0f)
            {
                (mx[l], s[l], sumWd[l], a[l], b[l]) = (0f, 1f, 0f, 0f, 0f);
                continue;
            }

            if (!float.IsFinite(mx[l]) || float.IsNaN(s[l]))
            {
                ok[l / 16] = 0;   // a NaN or +∞ logit, or all −∞: PyTorch's NaNs, from the general path
                continue;
            }

            mx[l] = xt[l] - mx[l];
            a[l] = w == null ? 1f : w[(int)t];
            b[l] = float.CreateTruncating(Upstream(p0 + l));
        }

        if (!probabilities)
        {
            // ClassRowTerms' formulas, a vector of positions at a time (its log one position at a time, MathF.Log, was 9%
            // of (8, 21, 512, 512) float32 forward+backward on one thread with AVX-512 off).
            float epsOverC = eps / c, weightSum = float.CreateTruncating(WeightSum);
            TV none = TV.Create(-1f), zero = TV.Create(0f);
            for (int l = 0; l < lanes; l += step)
            {
                TV sv = TV.Load(s + l), wt = TV.Load(a + l), g = TV.Load(b + l);
                TV logS = TV.Log(sv);
                TV lv = TV.Multiply(wt, TV.Subtract(logS, TV.Load(mx + l)));
                if (eps != 0f)
                {
                    lv = TV.Add(TV.Multiply(TV.Create(1f - eps), lv),
                        TV.Multiply(TV.Create(epsOverC), TV.Subtract(TV.Multiply(TV.Create(weightSum), logS), TV.Load(sumWd + l))));
                }

                TV av = TV.Divide(TV.Multiply(g, TV.Add(TV.Multiply(TV.Create(1f - eps), wt), TV.Create(epsOverC * weightSum))), sv);
                TV bv = eps != 0f ? TV.Multiply(g, TV.Create(-epsOverC)) : zero;   // −(g·ε/C), exactly
                TV.Store(TV.Multiply(TV.Multiply(g, TV.Create(1f - eps)), wt), fix + l);
                TV tv = TV.Load(tf + l);
                TV.Store(TV.SelectWhereEqual(tv, none, zero, lv), loss + l);
                TV.Store(TV.SelectWhereEqual(tv, none, zero, av), a + l);
                TV.Store(TV.SelectWhereEqual(tv, none, zero, bv), b + l);
            }
        }

        // 3. The gradient: a·e + b·w_k (probabilities: a·e − g·u) in one contiguous run per class, then each class
        //    target's own term.
        // 16-bit in place (Direct16): the run's 16 positions at a time, rounded in registers; class targets take their own
        // term as their class goes by, as in a streamed run. (Groups left to the general path are rewritten after this.)
        float* fo = typeof(TIo) == typeof(float) ? (float*)o : null;
        float* bw = smoothed ? w : null;   // class targets: the smoothing term's weights
        if (typeof(TIo) != typeof(float) && o != null)
        {
            for (int k = 0; k < c; k++)
            {
                var g = new ClassRun<TV>(e + k * lanes, a, b, fix, tf, TV.Create(bw == null ? 1f : bw[k]), TV.Create(k), smoothed);
                ushort* run = (ushort*)(o + k * outStride);
                for (int l = 0; l < lanes; l += 16)
                {
                    StoreNarrow16<TV, ClassRun<TV>>(ref g, l, run + l);
                }
            }
        }

        // A float32 gradient past the caches, written in place (not the widened tile), streams each class's whole aligned
        // lines as TileLanes does (StreamRun); class targets then take their own term in the run as its class goes by (a
        // store into a streamed line afterwards would read the line back). (8, 21, 512, 512) forward+backward,
        // probability targets: 7–12% faster on 2 threads, 10% on one; without AVX-512, class targets ~8% on 2 threads,
        // 11% on one, probability targets 8% on one.
        bool stream = fo != null && typeof(T) == typeof(float) && (typeof(TV) == typeof(Linear.RowVector512) || typeof(TV) == typeof(Linear.RowVector256))
            && outStride == G.D && G.Elements * sizeof(float) >= NonTemporalBytes && ((nuint)fo & 3) == 0;
        if (stream)
        {
            float* part = stackalloc float[16];   // the partial lines at the runs' ends
            for (int k = 0; k < c; k++)
            {
                float* ek = e + k * lanes;
                float* run = fo + k * outStride;
                if (probabilities)
                {
                    var g = new ProbabilityRun<TV>(ek, pt + k * d, a, b, keepV, addV, TV.Create(w == null ? 1f : w[k]), w != null);
                    StreamRun<TV, ProbabilityRun<TV>>(run, lanes, ref g, part);
                }
                else
                {
                    var g = new ClassRun<TV>(ek, a, b, fix, tf, TV.Create(bw == null ? 1f : bw[k]), TV.Create(k), smoothed);
                    StreamRun<TV, ClassRun<TV>>(run, lanes, ref g, part);
                }
            }
        }
        else if (fo != null && probabilities)
        {
            for (int k = 0; k < c; k++)
            {
                var g = new ProbabilityRun<TV>(e + k * lanes, pt + k * d, a, b, keepV, addV, TV.Create(w == null ? 1f : w[k]), w != null);
                float* run = fo + k * outStride;
                for (int l = 0; l < lanes; l += step)
                {
                    TV.Store(g.At(l), run + l);
                }
            }
        }
        else if (fo != null)
        {
            for (int k = 0; k < c; k++)
            {
                float* ek = e + k * lanes;
                float* run = fo + k * outStride;
                TV wk = TV.Create(bw == null ? 1f : bw[k]);
                for (int l = 0; l < lanes; l += step)
                {
                    TV r = smoothed
                        ? TV.MultiplyAdd(TV.Load(ek + l), TV.Load(a + l), TV.Multiply(TV.Load(b + l), wk))
                        : TV.Multiply(TV.Load(ek + l), TV.Load(a + l));
                    TV.Store(r, run + l);
                }
            }

            for (int l = 0; l < lanes; l++)
            {
                long t = long.CreateTruncating(Target[p0 + l]);
                if (t != IgnoreIndex && ok[l / 16] != 0)
                {
                    fo[t * outStride + l] = TargetGradient(e[t * lanes + l], a[l], b[l], bw, (int)t, fix[l]);
                }
            }
        }

        double partial = 0;
        for (int l = 0; l < lanes; l++)
        {
            if (ok[l / 16] != 0)
            {
                partial += loss[l];
                if (Loss != null)
                {
                    Loss[p0 + l] = Elements.FromCompute<T, TC>(TC.CreateTruncating(loss[l]));
                }
            }
        }

        return partial;
    }

    /// <summary>Whether a portable tile takes the next pair's max in its class loop: except for 512-bit lanes over float32
    /// logits in place (<paramref name="srcStride"/> the input's D), where the separate pass was 3–8% faster (probability
    /// targets); in a widened tile and in 256-bit lanes the fused one is 8–25% faster.</summary>
    private readonly bool FusesNextMax<TV, TIo>(long srcStride)
        where TV : struct, Linear.IRowVector<TV>
        where TIo : unmanaged =>
        !(typeof(TV) == typeof(Linear.RowVector512) && typeof(TIo) == typeof(float) && srcStride == G.D);

    /// <summary>Picks the compiled form of <see cref="PortableExpPass{TV, TIo, TNext, TGrad, TProb, TSmoothed}"/> for the
    /// tile's flags.</summary>
    private static void PortableExpPass<TV, TIo, TNext>(bool grad, bool probabilities, bool smoothed, TIo* src, float* pt, int c, long d, int lanes,
        float* e, float* w, TV keepV, TV addV, float* mx, float* s, float* sumWd, float* fix, float* tf, float* xt)
        where TV : struct, Linear.IRowVector<TV>
        where TIo : unmanaged
        where TNext : struct, IFlag
    {
        if (probabilities)
        {
            if (grad)
            {
                PortableExpPass<TV, TIo, TNext, Set, Set, Clear>(src, pt, c, d, lanes, e, w, keepV, addV, mx, s, sumWd, fix, tf, xt);
            }
            else
            {
                PortableExpPass<TV, TIo, TNext, Clear, Set, Clear>(src, pt, c, d, lanes, e, w, keepV, addV, mx, s, sumWd, fix, tf, xt);
            }
        }
        else if (smoothed)
        {
            if (grad)
            {
                PortableExpPass<TV, TIo, TNext, Set, Clear, Set>(src, pt, c, d, lanes, e, w, keepV, addV, mx, s, sumWd, fix, tf, xt);
            }
            else
            {
                PortableExpPass<TV, TIo, TNext, Clear, Clear, Set>(src, pt, c, d, lanes, e, w, keepV, addV, mx, s, sumWd, fix, tf, xt);
            }
        }
        else if (grad)
        {
            PortableExpPass<TV, TIo, TNext, Set, Clear, Clear>(src, pt, c, d, lanes, e, w, keepV, addV, mx, s, sumWd, fix, tf, xt);
        }
        else
        {
            PortableExpPass<TV, TIo, TNext, Clear, Clear, Clear>(src, pt, c, d, lanes, e, w, keepV, addV, mx, s, sumWd, fix, tf, xt);
        }
    }

    /// <summary>Step 1 of <see cref="PortableTileLanes{TV, TIo}"/>, compiled once per flag so that its class loop holds no
    /// branch: per pair of vectors of positions the max over the classes mx, s = Σ exp(x − max) (the exps kept in
    /// <paramref name="e"/> with <typeparamref name="TGrad"/>), Σ w·(x − max) in sumWd for smoothing
    /// (<typeparamref name="TSmoothed"/>), for probabilities (<typeparamref name="TProb"/>) q = Σ u in fix and
    /// Σ u·(x − max) in sumWd, and for class targets x_t (from tf) in xt. With <typeparamref name="TNext"/> the next
    /// pair's max is taken in this pair's class loop; without it, in a pass of its own before the pair's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PortableExpPass<TV, TIo, TNext, TGrad, TProb, TSmoothed>(TIo* src, float* pt, int c, long d, int lanes, float* e, float* w, TV keepV, TV addV,
        float* mx, float* s, float* sumWd, float* fix, float* tf, float* xt)
        where TV : struct, Linear.IRowVector<TV>
        where TIo : unmanaged
        where TNext : struct, IFlag
        where TGrad : struct, IFlag
        where TProb : struct, IFlag
        where TSmoothed : struct, IFlag
    {
        // 1. Two vectors of positions at a time: the max over the classes (the machine's own max, which may drop a NaN: the
        //    sum shows it; IEEE's took 9 instructions a vector on x86), then the exps against it. With TNext the next
        //    pair's max is taken in this pair's class loop (a pass of its own waits on each class's line from L2: the class
        //    stride maps the lines to few L1 sets). For class targets x_t is picked as its class goes by (a gather per
        //    position afterwards missed L1 for each one).
        int step = TV.Count;
        (TV n0, TV n1) = TNext.On ? PairMax<TV, TIo>(src, Math.Min(step, lanes - step), c, d) : (default, default);
        for (int l = 0; l < lanes; l += 2 * step)
        {
            // The second vector's offset: step, or 0 for a last vector without a pair (512-bit lanes, an odd count), which
            // is then computed twice and stored twice, the same values.
            int h = Math.Min(step, lanes - step - l);
            (TV m0, TV m1) = TNext.On ? (n0, n1) : PairMax<TV, TIo>(src + l, h, c, d);
            // The next pair (without one, this pair's lines again, whose max is dropped).
            int ln = l + 2 * step < lanes ? l + 2 * step : l;
            int hn = Math.Min(step, lanes - step - ln);
            TIo* nrow = src + ln;
            (n0, n1) = (TV.Create(float.NegativeInfinity), TV.Create(float.NegativeInfinity));
            TV tf0 = TProb.On ? TV.Create(0f) : TV.Load(tf + l), tf1 = TProb.On ? tf0 : TV.Load(tf + l + h);
            TV x0 = TV.Create(0f), x1 = x0, kf = x0, one = TV.Create(1f);

            // The sums in two levels: over blocks of 16 classes in registers, the blocks' partials added in the
            // per-position arrays, so that no float sum runs over more than 16 + C / 16 terms (over all C, a
            // probability loss at 1500 classes came out 1e-6 off, the general path's 1e-7).
            TIo* row = src + l;
            float* tk = pt + l;
            float* ek = e + l;
            for (int k0 = 0; k0 < c; k0 += PortableSumBlock)
            {
                TV s0 = TV.Create(0f), s1 = s0, w0 = s0, w1 = s0, q0 = s0, q1 = s0;
                for (int k = k0, kEnd = Math.Min(c, k0 + PortableSumBlock); k < kEnd; k++, row += d, tk += d, ek += lanes, nrow += d)
                {
                    if (TNext.On)
                    {
                        PrefetchPairAhead<TV, TIo>(nrow);
                        n0 = TV.MaxNative(n0, LoadAs<TV, TIo>(nrow));
                        n1 = TV.MaxNative(n1, LoadAs<TV, TIo>(nrow + hn));
                    }

                    TV v0 = LoadAs<TV, TIo>(row), v1 = LoadAs<TV, TIo>(row + h);
                    TV d0 = TV.Subtract(v0, m0), d1 = TV.Subtract(v1, m1);
                    if (!TProb.On)
                    {
                        x0 = TV.SelectWhereEqual(tf0, kf, v0, x0);
                        x1 = TV.SelectWhereEqual(tf1, kf, v1, x1);
                        kf = TV.Add(kf, one);
                    }

                    TV e0 = TV.Exp(d0), e1 = TV.Exp(d1);
                    s0 = TV.Add(s0, e0);
                    s1 = TV.Add(s1, e1);
                    if (TGrad.On)
                    {
                        TV.Store(e0, ek);
                        TV.Store(e1, ek + h);
                    }

                    if (TProb.On)
                    {
                        // The targets are read here first.
                        PrefetchPairAhead<TV, float>(tk);

                        TV u0 = TV.Add(TV.Multiply(TV.Load(tk), keepV), addV), u1 = TV.Add(TV.Multiply(TV.Load(tk + h), keepV), addV);
                        if (w != null)
                        {
                            TV wk = TV.Create(w[k]);
                            u0 = TV.Multiply(u0, wk);
                            u1 = TV.Multiply(u1, wk);
                        }

                        q0 = TV.Add(q0, u0);
                        q1 = TV.Add(q1, u1);
                        w0 = TV.MultiplyAdd(u0, d0, w0);
                        w1 = TV.MultiplyAdd(u1, d1, w1);
                    }
                    else if (TSmoothed.On)
                    {
                        TV wk = TV.Create(w == null ? 1f : w[k]);
                        w0 = TV.MultiplyAdd(wk, d0, w0);
                        w1 = TV.MultiplyAdd(wk, d1, w1);
                    }
                }

                StorePartials(s0, s1, s + l, h, k0 != 0);
                if (TProb.On || TSmoothed.On)
                {
                    StorePartials(w0, w1, sumWd + l, h, k0 != 0);
                }

                if (TProb.On)
                {
                    StorePartials(q0, q1, fix + l, h, k0 != 0);
                }
            }

            if (TGrad.On && !TProb.On)
            {
                // An ignored position's exps (which may be NaN or ∞) zeroed, so that its gradient is 0.
                ZeroIgnored(TV.EqualsBits(tf0, TV.Create(-1f)), e + l, c, lanes);
                ZeroIgnored(TV.EqualsBits(tf1, TV.Create(-1f)), e + l + h, c, lanes);
            }

            TV.Store(m0, mx + l);
            TV.Store(m1, mx + l + h);
            if (!TProb.On)
            {
                TV.Store(x0, xt + l);
                TV.Store(x1, xt + l + h);
            }
        }
    }

    /// <summary>Zeroes the <paramref name="c"/> kept exps (class stride <paramref name="lanes"/>) of the positions from
    /// <paramref name="e"/> whose bits are set in <paramref name="ignored"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ZeroIgnored(uint ignored, float* e, int c, int lanes)
    {
        for (; ignored != 0; ignored &= ignored - 1)
        {
            float* at = e + BitOperations.TrailingZeroCount(ignored);
            for (int k = 0; k < c; k++)
            {
                at[(long)k * lanes] = 0f;
            }
        }
    }

    /// <summary>One class's run of a portable tile's gradient, a vector of positions at a time.</summary>
    private interface IRunGradient<TV>
        where TV : struct, Linear.IRowVector<TV>
    {
        /// <summary>∂loss/∂x_k at the positions from <paramref name="l"/>.</summary>
        TV At(int l);
    }

    /// <summary>Probability targets: a·e_k − b·u_k with u_k = w_k·((1 − ε)·t_k + ε/C) (keep = 1 − ε, add = ε/C).</summary>
    private readonly struct ProbabilityRun<TV>(float* ek, float* tk, float* a, float* b, TV keep, TV add, TV wk, bool weighted) : IRunGradient<TV>
        where TV : struct, Linear.IRowVector<TV>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV At(int l)
        {
            TV u = TV.Add(TV.Multiply(TV.Load(tk + l), keep), add);
            if (weighted)
            {
                u = TV.Multiply(u, wk);
            }

            return TV.Subtract(TV.Multiply(TV.Load(ek + l), TV.Load(a + l)), TV.Multiply(u, TV.Load(b + l)));
        }
    }

    /// <summary>Class targets: a·e_k + b·w_k (b is 0 without smoothing), and where the target (tf, −1 where ignored) is k,
    /// <see cref="TargetGradient"/>'s a·e_k + b·w_k − fix, the same operations.</summary>
    private readonly struct ClassRun<TV>(float* ek, float* a, float* b, float* fix, float* tf, TV wk, TV kf, bool smoothed) : IRunGradient<TV>
        where TV : struct, Linear.IRowVector<TV>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV At(int l)
        {
            TV e = TV.Load(ek + l), av = TV.Load(a + l);
            TV own = TV.MultiplyAdd(e, av, TV.Multiply(TV.Load(b + l), wk));
            return TV.SelectWhereEqual(TV.Load(tf + l), kf, TV.Subtract(own, TV.Load(fix + l)), smoothed ? own : TV.Multiply(e, av));
        }
    }

    /// <summary>A class's run of <paramref name="lanes"/> float gradients into <paramref name="run"/>: its whole 64-byte
    /// lines streamed past the cache (<see cref="AlignedLines"/>), the partial lines at its ends stored plainly through a
    /// vector's worth of scratch, <paramref name="part"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StreamRun<TV, TG>(float* run, int lanes, ref TG gradient, float* part)
        where TV : struct, Linear.IRowVector<TV>
        where TG : struct, IRunGradient<TV>
    {
        int step = TV.Count;
        (int h, int end) = AlignedLines((T*)run, lanes);
        for (int l0 = 0; l0 < h; l0 += step)
        {
            TV.Store(gradient.At(l0), part);
            for (int l = l0; l < Math.Min(h, l0 + step); l++)
            {
                run[l] = part[l - l0];
            }
        }

        for (int l = h; l < end; l += step)
        {
            if (typeof(TV) == typeof(Linear.RowVector512))
            {
                Avx512F.StoreAlignedNonTemporal(run + l, Unsafe.BitCast<TV, Vector512<float>>(gradient.At(l)));
            }
            else
            {
                Avx.StoreAlignedNonTemporal(run + l, Unsafe.BitCast<TV, Vector256<float>>(gradient.At(l)));
            }
        }

        for (int l0 = lanes - 16; end < lanes && l0 < lanes; l0 += step)
        {
            TV.Store(gradient.At(l0), part);
            for (int l = Math.Max(l0, end); l < l0 + step; l++)
            {
                run[l] = part[l - l0];
            }
        }
    }

    /// <summary>Classes per block of <see cref="TileLanes"/>' sums (as <see cref="PortableSumBlock"/>): segmentation's
    /// class counts fit in one.</summary>
    private const int ClassSumBlock = 32;

    /// <summary>Per-position float arrays <see cref="TileLanes"/> keeps after the exps in its scratch.</summary>
    private const int LaneArrays = 10;

    /// <summary>Cross-entropy for <paramref name="lanes"/> (a multiple of 16) consecutive positions of a (N, C, D)
    /// input <paramref name="src"/> (class stride <paramref name="d"/>), vectorized across positions: one read of the
    /// logits that keeps the exps in <paramref name="x"/> (C × <paramref name="lanes"/> floats, class stride
    /// <paramref name="lanes"/>), per-position coefficients, then the gradient into <paramref name="o"/> (class stride
    /// <paramref name="d"/>) one contiguous run per class. float16 and bfloat16 are widened as they are loaded and
    /// narrowed as they are stored. A group of 16 positions with a NaN or infinite logit at a non-ignored position, or
    /// (the loss alone) with logits too far above a target's, is skipped here, with a 0 in <paramref name="ok"/>, for
    /// the general path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private readonly double TileLanes(long p0, int lanes, T* src, float* x, T* o, long d, float* scratch, out int* ok)
    {
        int c = G.C;
        bool grad = o != null;
        float* r0 = scratch;   // per position: the reference the exps are taken against (its max, or x_t)
        float* s = r0 + lanes;
        float* sumWd = s + lanes;
        float* dt = sumWd + lanes;
        float* wt = dt + lanes;
        float* gl = wt + lanes;
        int* tl = (int*)(gl + lanes);
        ok = tl + lanes;
        float* a = (float*)ok + lanes;
        float* bv = a + lanes;
        float* e = x;
        float* w = (float*)Weight;
        float eps = float.CreateTruncating(Smoothing);

        // 1. Targets, validity, w[t] and the upstream gradient, per position (16 at a time for int64, int32 and uint8 targets
        //    under a uniform upstream gradient, the common case).
        float uniformG = float.CreateTruncating(GradScale);
        int l0 = 0;
        if ((typeof(TTarget) == typeof(long) || typeof(TTarget) == typeof(int) || typeof(TTarget) == typeof(byte)) && GradOutput == null)
        {
            Vector512<float> one = Vector512<float>.One;
            for (; l0 < lanes; l0 += 16)
            {
                Vector512<int> tv;
                Vector512<int> ignored;
                if (typeof(TTarget) == typeof(long))
                {
                    Vector512<long> lo = Vector512.Load((long*)Target + p0 + l0), hi = Vector512.Load((long*)Target + p0 + l0 + 8);
                    Vector512<long> ig = Vector512.Create(IgnoreIndex);
                    tv = Vector512.Create(Avx512F.ConvertToVector256Int32(lo), Avx512F.ConvertToVector256Int32(hi));
                    ignored = Vector512.Create(Avx512F.ConvertToVector256Int32(Vector512.Equals(lo, ig)),
                        Avx512F.ConvertToVector256Int32(Vector512.Equals(hi, ig)));
                }
                else if (typeof(TTarget) == typeof(byte))
                {
                    tv = Avx512F.ConvertToVector512Int32(Vector128.Load((byte*)Target + p0 + l0));
                    // A byte target never equals an ignore_index outside 0..255.
                    ignored = IgnoreIndex == (byte)IgnoreIndex ? Vector512.Equals(tv, Vector512.Create((int)IgnoreIndex)) : Vector512<int>.Zero;
                }
                else
                {
                    tv = Vector512.Load((int*)Target + p0 + l0);
                    // An int32 target never equals an ignore_index outside int32's range.
                    ignored = IgnoreIndex == (int)IgnoreIndex ? Vector512.Equals(tv, Vector512.Create((int)IgnoreIndex)) : Vector512<int>.Zero;
                }

                tv = Vector512.ConditionalSelect(ignored, Vector512.Create(-1), tv);
                tv.Store(tl + l0);
                Vector512<float> wv = one;
                if (w != null)
                {
                    // Ignored lanes read w[0] (harmless) and are set to 1.
                    Vector512<int> ti = Vector512.Max(tv, Vector512<int>.Zero);
                    wv = Vector512.Create(Avx2.GatherVector256(w, ti.GetLower(), 4), Avx2.GatherVector256(w, ti.GetUpper(), 4));
                    wv = Vector512.ConditionalSelect(ignored.AsSingle(), one, wv);
                }

                wv.Store(wt + l0);
                Vector512.Create(uniformG).Store(gl + l0);
            }
        }

        for (int l = l0; l < lanes; l++)
        {
            long t = long.CreateTruncating(Target[p0 + l]);
            bool valid = t != IgnoreIndex;
            tl[l] = valid ? (int)t : -1;
            wt[l] = valid && w != null ? w[t] : 1f;
            gl[l] = GradOutput == null ? uniformG : float.CreateTruncating(GradScale * Elements.ToCompute<T, TC>(GradOutput[p0 + l]));
        }

        // Non-temporal stores need 64-byte-aligned lines, which the runs rarely start on (.NET arrays are 16 bytes into a
        // line or so, and a D that is not a multiple of a line gives each class's run its own misalignment), so each
        // run's groups are computed at its aligned lines' positions (the per-position arrays are read unaligned) and its
        // partial lines at its ends are stored plainly (AlignedLines). (Plain stores throughout for a D that is not a
        // multiple of a line made (8, 21, 513, 513) forward+backward on 2 threads 16% (bfloat16) and 19% (float32)
        // slower.) Those lines are read first, here, long before step 4 stores into them: the neighbouring
        // tile writes their other part, so they are rarely in cache, and stores that wait on them stall (3–5% of the
        // forward+backward of (8, 21, 512, 512) in every type, alternated call by call).
        bool stream = grad && typeof(T) == typeof(float) && G.Elements * sizeof(float) >= NonTemporalBytes && ((nuint)o & 3) == 0
            && lanes >= 32;
        // 16-bit: a line holds 32 positions, two groups narrowed into one vector. Half-line (32-byte) streaming stores
        // measured slower than plain ones.
        bool stream16 = grad && typeof(T) != typeof(float) && G.Elements * sizeof(T) >= NonTemporalBytes && ((nuint)o & 1) == 0
            && (lanes & 31) == 0 && lanes >= 64;
        if (stream || stream16)
        {
            for (int k = 0; k < c; k++)
            {
                (int h, int end) = AlignedLines(o + k * d, lanes);
                if (h != 0)
                {
                    Sse.Prefetch0(o + k * d);
                }

                if (end != lanes)
                {
                    Sse.Prefetch0(o + k * d + lanes - 1);
                }
            }
        }

        // 2. One read of the logits, 32 positions at a time across the classes (ExpPass): s = Σ exp(x − r) against the
        //    position's max r (the max of the next 32 positions is taken in the same loop), or for the loss alone
        //    against x_t (a group whose sum reaches FloatRows.SumLimit, as an overflow, a NaN or a +∞ make it, goes to
        //    the general path), the exps kept for the gradient, Σ w·(x − r) for smoothing, and x[t] (gathered; with the
        //    gradient, picked as its class goes by). Each class's line is read whole at once (16-bit: 32 positions a
        //    line; float: two lines), so the class stride D (often a power of two, mapping every class to one cache set)
        //    costs nothing; the next lines are prefetched three pairs ahead into L1 and 32 pairs ahead into L2.
        //    float16 is read through LowRows.HalfBitsLoad (2^−112 times its value, without the widening's infinity and
        //    NaN case): x[t] stays in that scale, x − r is one FMA, the exp needs no clamp, and a lane whose largest
        //    magnitude reaches 65536 held an infinity or NaN and goes to the general path.
        if (typeof(T) == typeof(Half))
        {
            ExpPass<LowRows.HalfBitsLoad>(grad, eps != 0f, src, c, lanes, d, tl, e, w, r0, s, sumWd, dt, ok, (byte*)(Target + p0 + lanes));
        }
        else
        {
            ExpPass<LowRows.ExactLoad>(grad, eps != 0f, src, c, lanes, d, tl, e, w, r0, s, sumWd, dt, ok, (byte*)(Target + p0 + lanes));
        }

        // 3. Per-position loss and gradient coefficients (the formulas of ClassRow with the reference r for the max),
        //    zero where ignored.
        float epsOverC = eps / c;
        float weightSum = float.CreateTruncating(WeightSum);
        Vector512<double> partial = Vector512<double>.Zero;
        Vector512<float> tiny = Vector512<float>.AllBitsSet;   // every gradient below 2^−14 (float16's subnormals)
        for (int g = 0; g < lanes; g += 16)
        {
            if (ok[g / 16] == 0)
            {
                continue;
            }

            Vector512<float> valid16 = Vector512.GreaterThanOrEqual(Vector512.Load(tl + g), Vector512<int>.Zero).AsSingle();
            Vector512<float> sg = Vector512.Load(s + g);
            Vector512<float> logS = FloatRows.Log(sg);
            Vector512<float> wtg = Vector512.Load(wt + g);
            Vector512<float> gg = Vector512.Load(gl + g);
            Vector512<float> loss = wtg * (logS - (Vector512.Load(dt + g) - Vector512.Load(r0 + g)));
            if (eps != 0f)
            {
                loss = loss * (1f - eps) + (logS * weightSum - Vector512.Load(sumWd + g)) * epsOverC;
            }

            loss = Vector512.ConditionalSelect(valid16, loss, Vector512<float>.Zero);
            if (Loss != null)
            {
                if (typeof(T) == typeof(float))
                {
                    loss.Store((float*)Loss + p0 + g);
                }
                else
                {
                    LowRows.Narrow<T>(loss).Store((ushort*)(Loss + p0 + g));
                }
            }

            partial += Vector512.WidenLower(loss) + Vector512.WidenUpper(loss);
            if (grad)
            {
                // ∂loss/∂x_k = a·e_k + b·w_k − [k = t]·fix; fix reuses the dt slot, a and b are zero where ignored.
                Vector512<float> gA = gg * (wtg * (1f - eps) + Vector512.Create(epsOverC * weightSum));
                Vector512.ConditionalSelect(valid16, gA / sg, Vector512<float>.Zero).Store(a + g);
                // |∂loss/∂x_k| <= |g|·A (+ |b| with smoothing): the softmax sums to 1.
                Vector512<float> bound = Vector512.Abs(gA) + Vector512.Abs(gg * epsOverC);
                tiny &= Vector512.LessThan(bound, Vector512.Create(HalfVectors.MinNormalHalf)) | ~valid16;
                (eps != 0f ? Vector512.ConditionalSelect(valid16, -(gg * epsOverC), Vector512<float>.Zero) : Vector512<float>.Zero).Store(bv + g);
                (gg * (1f - eps) * wtg).Store(dt + g);
            }
        }

        // 4. The gradient, one contiguous run per class. float16 gradients that are all subnormal halves (a mean over
        //    many positions) take the short rounding.
        if (grad)
        {
            bool weightedB = w != null && eps != 0f;
            // (With weights in the smoothing term the bound would need max |w|.)
            bool tinyHalves = typeof(T) == typeof(Half) && tiny.AsInt32() == Vector512<int>.AllBitsSet && !weightedB;
            bool smoothed = eps != 0f;
            // A streamed run's partial lines at its ends, spilled once and copied from here: GetElement with a variable
            // index spilled the whole vector again for every element, and its load then waited on that store.
            ushort* part = stackalloc ushort[32];
            for (int k = 0; k < c; k++)
            {
                T* row = o + k * d;
                float* ek = e + k * lanes;
                Vector512<int> kv = Vector512.Create(k);
                Vector512<float> wk = Vector512.Create(weightedB ? w[k] : 1f);
                (int h, int end) = AlignedLines(row, lanes);
                if (stream)
                {
                    // Groups that go to the general path are computed too: their positions are rewritten after this.
                    float* frow = (float*)row;
                    float* fpart = (float*)part;
                    Gradient(smoothed, ek, a, bv, dt, tl, 0, kv, wk).Store(fpart);
                    for (int l = 0; l < h; l++)
                    {
                        frow[l] = fpart[l];
                    }

                    for (int g = h; g < end; g += 16)
                    {
                        Avx512F.StoreAlignedNonTemporal(frow + g, Gradient(smoothed, ek, a, bv, dt, tl, g, kv, wk));
                    }

                    Gradient(smoothed, ek, a, bv, dt, tl, lanes - 16, kv, wk).Store(fpart);
                    for (int l = end; l < lanes; l++)
                    {
                        frow[l] = fpart[l - (lanes - 16)];
                    }

                    continue;
                }

                if (stream16)
                {
                    ushort* hrow = (ushort*)row;
                    LowRows.NarrowPair<T>(Gradient(smoothed, ek, a, bv, dt, tl, 0, kv, wk), Gradient(smoothed, ek, a, bv, dt, tl, 16, kv, wk), tinyHalves).Store(part);
                    for (int l = 0; l < h; l++)
                    {
                        hrow[l] = part[l];
                    }

                    for (int g = h; g < end; g += 32)
                    {
                        Avx512F.StoreAlignedNonTemporal(hrow + g,
                            LowRows.NarrowPair<T>(Gradient(smoothed, ek, a, bv, dt, tl, g, kv, wk), Gradient(smoothed, ek, a, bv, dt, tl, g + 16, kv, wk), tinyHalves));
                    }

                    LowRows.NarrowPair<T>(Gradient(smoothed, ek, a, bv, dt, tl, lanes - 32, kv, wk), Gradient(smoothed, ek, a, bv, dt, tl, lanes - 16, kv, wk), tinyHalves).Store(part);
                    for (int l = end; l < lanes; l++)
                    {
                        hrow[l] = part[l - (lanes - 32)];
                    }

                    continue;
                }

                for (int g = 0; g < lanes; g += 16)
                {
                    if (ok[g / 16] == 0)
                    {
                        continue;
                    }

                    Vector512<float> r = Gradient(smoothed, ek, a, bv, dt, tl, g, kv, wk);
                    if (typeof(T) != typeof(float))
                    {
                        LowRows.Narrow<T>(r, tinyHalves).Store((ushort*)(row + g));
                    }
                    else
                    {
                        r.Store((float*)row + g);
                    }
                }
            }
        }

        return Vector512.Sum(partial);
    }

    /// <summary>Where the streamed stores of a class's run of <paramref name="lanes"/> positions from
    /// <paramref name="run"/> start and end: H positions before its first 64-byte-aligned line, and End past its last
    /// whole aligned line (each class its own when D is not a multiple of a line: D = 513 · 513, say).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int H, int End) AlignedLines(T* run, int lanes)
    {
        int line = 64 / sizeof(T);
        int h = (int)((64 - ((nuint)run & 63)) & 63) / sizeof(T);
        return (h, h + (lanes - h) / line * line);
    }

    /// <summary>Picks the compiled form of <see cref="ExpPass{TLoad, TGrad, TSmoothed, TNext}"/> for the tile's flags.
    /// The next pair's max is taken in a pair's class loop only with the gradient and in a tile of 64 positions or more
    /// (in a smaller one no pair has a next pair).</summary>
    private static void ExpPass<TLoad>(bool grad, bool smoothed, T* src, int c, int lanes, long d, int* tl, float* e, float* w, float* r0, float* s, float* sumWd, float* dt, int* ok, byte* ahead)
        where TLoad : struct, LowRows.IRowLoad
    {
        if (grad && lanes >= 64)
        {
            if (smoothed)
            {
                ExpPass<TLoad, Set, Set, Set>(src, c, lanes, d, tl, e, w, r0, s, sumWd, dt, ok, ahead);
            }
            else
            {
                ExpPass<TLoad, Set, Clear, Set>(src, c, lanes, d, tl, e, w, r0, s, sumWd, dt, ok, ahead);
            }
        }
        else if (grad)
        {
            if (smoothed)
            {
                ExpPass<TLoad, Set, Set, Clear>(src, c, lanes, d, tl, e, w, r0, s, sumWd, dt, ok, ahead);
            }
            else
            {
                ExpPass<TLoad, Set, Clear, Clear>(src, c, lanes, d, tl, e, w, r0, s, sumWd, dt, ok, ahead);
            }
        }
        else if (smoothed)
        {
            ExpPass<TLoad, Clear, Set, Clear>(src, c, lanes, d, tl, e, w, r0, s, sumWd, dt, ok, ahead);
        }
        else
        {
            ExpPass<TLoad, Clear, Clear, Clear>(src, c, lanes, d, tl, e, w, r0, s, sumWd, dt, ok, ahead);
        }
    }

    /// <summary>Step 2 of <see cref="TileLanes"/>, two groups of 16 positions at a time (a whole line of float16 or
    /// bfloat16 per class; the last group of an odd count is paired with itself), compiled once per load and flag so
    /// that the class loop holds no branch. <paramref name="ahead"/>: the targets of the tile that the same worker takes
    /// next (the tile's own plus <paramref name="lanes"/>, within 15 positions of the next tile's first), prefetched.
    /// <typeparamref name="TNext"/>: the class loop also takes the next pair's max (the gradient's reference), which
    /// needs a tile of at least 64 positions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExpPass<TLoad, TGrad, TSmoothed, TNext>(T* src, int c, int lanes, long d, int* tl, float* e, float* w, float* r0, float* s, float* sumWd, float* dt, int* ok, byte* ahead)
        where TLoad : struct, LowRows.IRowLoad
        where TGrad : struct, IFlag
        where TSmoothed : struct, IFlag
        where TNext : struct, IFlag
    {
        Debug.Assert(!TNext.On || (TGrad.On && lanes >= 64), "the next pair's max is for the gradient, in tiles of 64 or more");
        bool downscaled = typeof(TLoad) == typeof(LowRows.HalfBitsLoad);
        Debug.Assert(downscaled == (typeof(T) == typeof(Half)), "float16 is read downscaled, as PickTarget reads x[t]");
        bool wide = (long)c * d > TargetGather.NarrowIndexLimit;
        Vector512<float> nextA = default, nextB = default;
        bool haveNext = false;
        for (int g = 0; g < lanes; g += 32)
        {
            // The next tile's targets, a pair's worth at a time, while there is time: step 1 waited on them (16-bit
            // (8, 21, 512, 512) forward+backward 0.97 with this, forward 0.95; float32 1.00). All at once in step 1
            // gained nothing.
            byte* q = ahead + g * sizeof(TTarget);
            Sse.Prefetch0(q);
            if (sizeof(TTarget) * 32 > 64)
            {
                Sse.Prefetch0(q + 64);
            }

            if (sizeof(TTarget) * 32 > 128)
            {
                Sse.Prefetch0(q + 128);
                Sse.Prefetch0(q + 192);
            }

            int h = Math.Min(g + 16, lanes - 16);
            Vector512<int> ta = Vector512.Load(tl + g), tb = Vector512.Load(tl + h);
            Vector512<float> ra0 = TLoad.Load(src + g), rb0 = TLoad.Load(src + h);
            // The reference: with the gradient, the max over the classes, as PyTorch takes it (x − max is exact near the
            // max, where the large terms are); the loss alone, x_t, so that it is log Σ exp(x − x_t) with nothing
            // subtracted from it (a target more than about 69 below the max sends its group to the general path).
            // The max of a whole next pair is taken in this pair's class loop, beside the exps: a pass of its own waits on
            // C lines from L2 (the class stride maps them to one L1 set), 30% slower in cache.
            Vector512<float> xa, xb, ra, rb;
            bool pipe = TNext.On && g + 64 <= lanes;
            // Without a next pair the loop reads (and drops) the tile's last 32 positions: the 16 after a group paired
            // with itself may lie past the input. (A runtime offset instead, 0 for such a group, or a stride of 0 over
            // the scratch, made bfloat16 (8, 21, 512, 512) forward+backward 8–10% slower.)
            T* next = pipe ? src + g + 32 : src + (lanes - 32);
            if (TGrad.On)
            {
                (ra, rb) = haveNext ? (nextA, nextB) : MaxOverClasses(src + g, h - g, c, d);
                (xa, xb) = (ra0, rb0);   // an ignored position keeps class 0's logit, as PickTarget gives it
            }
            else
            {
                xa = PickTarget(src + g, ta, d, wide, ra0);
                xb = PickTarget(src + h, tb, d, wide, rb0);
                (ra, rb) = (xa * Vector512.Create(TLoad.Scale), xb * Vector512.Create(TLoad.Scale));
            }

            Vector512<float> negA = -ra, negB = -rb;
            Vector512<float> ma = Vector512<float>.Zero, mb = ma;   // float16: the largest magnitude
            Vector512<float> sa = Vector512<float>.Zero, sb = Vector512<float>.Zero;
            Vector512<float> wa = Vector512<float>.Zero, wb = Vector512<float>.Zero;
            Vector512<float> liveA = Vector512.GreaterThanOrEqual(ta, Vector512<int>.Zero).AsSingle();
            Vector512<float> liveB = Vector512.GreaterThanOrEqual(tb, Vector512<int>.Zero).AsSingle();
            Vector512<float> na = Vector512.Create(float.NegativeInfinity), nb = na;   // float: the next pair's max
            Vector512<short> nHigh = Vector512.Create(short.MinValue);                   // 16-bit: its bits' extremes
            Vector512<ushort> nLow = Vector512.Create(ushort.MaxValue);
            T* row = src + g;
            long offset = h - g;
            float* ek = e + g;
            Vector512<int> kv = Vector512<int>.Zero;
            // The sums in blocks of ClassSumBlock classes: a block's sums are parked in s (and sumWd) while more
            // classes follow, and added up at the end. One float sum over C classes carried C roundings, and at C = 1000
            // put a gradient 15 ulp off (agree seed 146), 3 times libtorch's error there.
            for (int k0 = 0; k0 < c; k0 += ClassSumBlock)
            {
                for (int k = k0, kEnd = Math.Min(c, k0 + ClassSumBlock); k < kEnd; k++, row += d, next += d, ek += lanes, kv += Vector512<int>.One)
                {
                    // Three pairs ahead: the next pair's lines are loaded here already (its max). And into L2 32 pairs
                    // ahead: the near prefetch alone left the class loop waiting on memory (a loop of these loads alone took
                    // 7.6 ms a core for (8, 21, 512, 512) bfloat16, 5.7 with this; float32 forward+backward 2 threads
                    // 18.3–20.4 → 15.3–15.6 ms, 16-bit 5–7% faster; half and twice the distance measured no better).
                    Sse.Prefetch0(row + 128);
                    Sse.Prefetch2(row + 1024);
                    if (sizeof(T) == sizeof(float))
                    {
                        Sse.Prefetch0(row + 144);
                        Sse.Prefetch2(row + 1040);
                    }

                    if (TNext.On)
                    {
                        FloatRows.MaxStep32(next, 16, ref na, ref nb, ref nHigh, ref nLow);
                    }

                    Vector512<float> va = TLoad.Load(row), vb = TLoad.Load(row + offset);
                    if (downscaled)
                    {
                        ma = FloatRows.LargestMagnitude(ma, va);
                        mb = FloatRows.LargestMagnitude(mb, vb);
                    }

                    Vector512<float> da = TLoad.Minus(va, negA), db = TLoad.Minus(vb, negB);
                    // Against the max, x − r is at most 0 (or NaN): only the lower clamp is needed.
                    // The loss alone only sums them (FloatRows.ExpForSum).
                    Vector512<float> ea = !TGrad.On ? TLoad.SumExp(da) : !downscaled ? FloatRows.ExpNonPositive(da) : TLoad.Exp(da);
                    Vector512<float> eb = !TGrad.On ? TLoad.SumExp(db) : !downscaled ? FloatRows.ExpNonPositive(db) : TLoad.Exp(db);
                    if (TGrad.On)
                    {
                        // Zero where ignored (an ignored position's exp may be NaN or ∞), so the gradient needs no mask.
                        (ea & liveA).Store(ek);
                        (eb & liveB).Store(ek + offset);
                        // x[t], picked as its class goes by, instead of two gathers per group after the loop (17% of this
                        // pass; the blends cost most of that back: bfloat16 (8, 21, 512, 512) forward+backward one thread
                        // 3% faster, float32 and float16 within noise alone, faster with the L2 prefetch above).
                        xa = Vector512.ConditionalSelect(Vector512.Equals(ta, kv).AsSingle(), va, xa);
                        xb = Vector512.ConditionalSelect(Vector512.Equals(tb, kv).AsSingle(), vb, xb);
                    }

                    sa += ea;
                    sb += eb;
                    if (TSmoothed.On)
                    {
                        Vector512<float> wk = Vector512.Create(w == null ? 1f : w[k]);
                        wa = Avx512F.FusedMultiplyAdd(da, wk, wa);
                        wb = Avx512F.FusedMultiplyAdd(db, wk, wb);
                    }
                }

                if (k0 + ClassSumBlock < c)
                {
                    ParkBlock(k0 != 0, ref sa, ref sb, s + g, s + h);
                    ParkBlock(k0 != 0, ref wa, ref wb, sumWd + g, sumWd + h);
                }
            }

            if (c > ClassSumBlock)
            {
                // (Both loads before any use: a group paired with itself has h = g.)
                (Vector512<float> pa, Vector512<float> pb) = (Vector512.Load(s + g), Vector512.Load(s + h));
                (sa, sb) = (pa + sa, pb + sb);
                (pa, pb) = (Vector512.Load(sumWd + g), Vector512.Load(sumWd + h));
                (wa, wb) = (pa + wa, pb + wb);
            }

            if (TGrad.On)
            {
                (nextA, nextB) = sizeof(T) == sizeof(float) ? (na, nb) : FromBits(nHigh, nLow);
                haveNext = pipe;
            }

            Finish(g, ra, ma, sa, wa, xa, liveA, r0, s, sumWd, dt, ok);
            Finish(h, rb, mb, sb, wb, xb, liveB, r0, s, sumWd, dt, ok);
        }

        // A block's sums added to those parked at pa and pb (none for the first block), parked there, and cleared. Both
        // loads come before the stores: a group paired with itself has pb = pa.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void ParkBlock(bool add, ref Vector512<float> va, ref Vector512<float> vb, float* pa, float* pb)
        {
            if (add)
            {
                (Vector512<float> oa, Vector512<float> ob) = (Vector512.Load(pa), Vector512.Load(pb));
                (va, vb) = (oa + va, ob + vb);
            }

            va.Store(pa);
            vb.Store(pb);
            (va, vb) = (Vector512<float>.Zero, Vector512<float>.Zero);
        }

        // Usable: the sum is below FloatRows.SumLimit (false for NaN, for +∞ from an overflow, a +∞ logit or a −∞
        // reference, and for sums too large to be accurate), and for float16 no magnitude reached 65536 (an infinity
        // or NaN read downscaled); an ignored position always is.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Finish(int g, Vector512<float> r, Vector512<float> mv, Vector512<float> sv, Vector512<float> sw, Vector512<float> xt, Vector512<float> live,
            float* r0, float* s, float* sumWd, float* dt, int* ok)
        {
            Vector512<float> fine = Vector512.LessThan(sv, Vector512.Create(FloatRows.SumLimit));
            if (typeof(TLoad) == typeof(LowRows.HalfBitsLoad))
            {
                Vector512<float> scale = Vector512.Create(TLoad.Scale);
                xt *= scale;
                fine &= Vector512.LessThan(mv * scale, Vector512.Create(HalfVectors.InfinityAsSingle));
            }

            ok[g / 16] = (fine | ~live).AsInt32() == Vector512<int>.AllBitsSet ? 1 : 0;
            r.Store(r0 + g);
            sv.Store(s + g);
            sw.Store(sumWd + g);
            xt.Store(dt + g);
        }
    }

    /// <summary>The max over the classes at the 16 positions from <paramref name="src"/> and the 16 from src +
    /// <paramref name="offset"/> (16, or 0 for a group paired with itself): the reference of the exps, as PyTorch takes it.
    /// float16 and bfloat16 from their bits as <see cref="FloatRows.MaxOf"/> takes them, a line of 32 at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> A, Vector512<float> B) MaxOverClasses(T* src, long offset, int c, long d)
    {
        Vector512<float> ma = Vector512.Create(float.NegativeInfinity), mb = ma;
        Vector512<short> high = Vector512.Create(short.MinValue);
        Vector512<ushort> low = Vector512.Create(ushort.MaxValue);
        for (int k = 0; k < c; k++, src += d)
        {
            FloatRows.MaxStep32(src, offset, ref ma, ref mb, ref high, ref low);
        }

        return sizeof(T) == sizeof(float) ? (ma, mb) : FromBits(high, low);
    }

    /// <summary>The max at 32 positions from the signed max and the unsigned min of their float16 or bfloat16 bits (see
    /// <see cref="FloatRows.MaxOf"/>), as two vectors of 16 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> A, Vector512<float> B) FromBits(Vector512<short> high, Vector512<ushort> low)
    {
        Vector512<ushort> bits = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(high, Vector512<short>.Zero).AsUInt16(), high.AsUInt16(), low);
        Vector512<uint> lo = Avx512F.ConvertToVector512UInt32(bits.GetLower()), hi = Avx512F.ConvertToVector512UInt32(bits.GetUpper());
        return typeof(T) == typeof(Half)
            ? (HalfVectors.ToSingle(lo), HalfVectors.ToSingle(hi))
            : ((lo << 16).AsSingle(), (hi << 16).AsSingle());
    }

    /// <summary>x[t] at 16 positions from <paramref name="src"/> (class stride <paramref name="d"/>), read as the exp pass
    /// reads them (float16 2^−112 times its value), by two 8-lane gathers: cheaper than a compare and blend per class.
    /// t = 0 is <paramref name="classZero"/>, already loaded, and an ignored position (t = −1) gets 0, so every read is of
    /// an element at class 1 or above: a 16-bit element is read as the upper half of the dword that starts 2 bytes before
    /// it, which lies inside the tensor there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PickTarget(T* src, Vector512<int> t, long d, bool wide, Vector512<float> classZero)
    {
        Vector512<int> take = Vector512.GreaterThan(t, Vector512<int>.Zero);
        int* b = sizeof(T) == sizeof(int) ? (int*)src : (int*)((byte*)src - 2);
        Vector512<int> v;
        if (!wide)
        {
            Vector512<int> index = t * Vector512.Create((int)d) + Vector512<int>.Indices;
            v = sizeof(T) == sizeof(int)
                ? Vector512.Create(
                    Avx2.GatherMaskVector256(Vector256<int>.Zero, b, index.GetLower(), take.GetLower(), 4),
                    Avx2.GatherMaskVector256(Vector256<int>.Zero, b, index.GetUpper(), take.GetUpper(), 4))
                : Vector512.Create(
                    Avx2.GatherMaskVector256(Vector256<int>.Zero, b, index.GetLower(), take.GetLower(), 2),
                    Avx2.GatherMaskVector256(Vector256<int>.Zero, b, index.GetUpper(), take.GetUpper(), 2));
        }
        else
        {
            // C·D past int32: four gathers of 4 with 64-bit indices.
            Vector512<long> dv = Vector512.Create(d);
            Vector512<long> lo = Avx512F.ConvertToVector512Int64(t.GetLower()) * dv + Vector512<long>.Indices;
            Vector512<long> hi = Avx512F.ConvertToVector512Int64(t.GetUpper()) * dv + (Vector512<long>.Indices + Vector512.Create(8L));
            Vector128<int> t0 = take.GetLower().GetLower(), t1 = take.GetLower().GetUpper(), t2 = take.GetUpper().GetLower(), t3 = take.GetUpper().GetUpper();
            v = sizeof(T) == sizeof(int)
                ? Vector512.Create(
                    Vector256.Create(
                        Avx2.GatherMaskVector128(Vector128<int>.Zero, b, lo.GetLower(), t0, 4),
                        Avx2.GatherMaskVector128(Vector128<int>.Zero, b, lo.GetUpper(), t1, 4)),
                    Vector256.Create(
                        Avx2.GatherMaskVector128(Vector128<int>.Zero, b, hi.GetLower(), t2, 4),
                        Avx2.GatherMaskVector128(Vector128<int>.Zero, b, hi.GetUpper(), t3, 4)))
                : Vector512.Create(
                    Vector256.Create(
                        Avx2.GatherMaskVector128(Vector128<int>.Zero, b, lo.GetLower(), t0, 2),
                        Avx2.GatherMaskVector128(Vector128<int>.Zero, b, lo.GetUpper(), t1, 2)),
                    Vector256.Create(
                        Avx2.GatherMaskVector128(Vector128<int>.Zero, b, hi.GetLower(), t2, 2),
                        Avx2.GatherMaskVector128(Vector128<int>.Zero, b, hi.GetUpper(), t3, 2)));
        }

        Vector512<float> x = sizeof(T) == sizeof(int) ? v.AsSingle()
            : typeof(T) == typeof(Half) ? HalfVectors.DownscaledFromUpperHalves(v)
            : (v & Vector512.Create(unchecked((int)0xFFFF0000))).AsSingle();
        return Vector512.ConditionalSelect(Vector512.Equals(t, Vector512<int>.Zero).AsSingle(), classZero, x);
    }

    /// <summary>∂loss/∂x_k for the 16 positions from g: a·e_k + b·w_k − [k = t]·fix (fix kept in the dt slot; b is 0
    /// without smoothing). Zero where ignored: e_k, a and b are 0 there and t is −1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Gradient(bool smoothed, float* ek, float* a, float* bv, float* fix, int* tl, int g, Vector512<int> kv, Vector512<float> wk)
    {
        Vector512<float> r = smoothed
            ? Avx512F.FusedMultiplyAdd(Vector512.Load(ek + g), Vector512.Load(a + g), Vector512.Load(bv + g) * wk)
            : Vector512.Load(ek + g) * Vector512.Load(a + g);
        return Vector512.ConditionalSelect(Vector512.Equals(Vector512.Load(tl + g), kv).AsSingle(), r - Vector512.Load(fix + g), r);
    }

    private double Positions(long n, long j0, int width, TC[] xs, TC[]? ts, TC[]? gs, TC[] tmp, TC[] tmp2)
    {
        int c = G.C;
        long d = G.D;
        Gather(Input, n, j0, width, xs);
        if (ts != null)
        {
            Gather(ProbTarget, n, j0, width, ts);
        }

        double partial = 0;
        for (int b = 0; b < width; b++)
        {
            Span<TC> x = xs.AsSpan(b * c, c);
            Span<TC> t = ts == null ? default : ts.AsSpan(b * c, c);
            Span<TC> dst = gs == null ? default : gs.AsSpan(b * c, c);
            partial += double.CreateTruncating(Row(n * d + j0 + b, x, t, dst, tmp, tmp2));
        }

        if (gs != null)
        {
            for (long k = 0; k < c; k++)
            {
                T* o = Output + ((n * c + k) * d + j0);
                for (int b = 0; b < width; b++)
                {
                    o[b] = Elements.FromCompute<T, TC>(gs[b * c + k]);
                }
            }
        }

        return partial;
    }

    /// <summary>Copies the (C × width) tile at (n, ·, j0) into rows of C compute elements, one per position.</summary>
    private readonly void Gather(T* source, long n, long j0, int width, TC[] rows)
    {
        int c = G.C;
        long d = G.D;
        for (long k = 0; k < c; k++)
        {
            T* s = source + ((n * c + k) * d + j0);
            for (int b = 0; b < width; b++)
            {
                rows[b * c + k] = Elements.ToCompute<T, TC>(s[b]);
            }
        }
    }

    /// <summary>One position: returns its loss (0 for log-softmax and ignored positions) and writes the per-position
    /// loss and the row's gradient (or log-probabilities) where asked.</summary>
    private readonly TC Row(long position, Span<TC> x, Span<TC> t, Span<TC> dst, TC[] tmp, TC[] tmp2)
    {
        int c = G.C;
        TC loss = TC.Zero;
        if (Kind == RowKind.ClassTarget)
        {
            long target = long.CreateTruncating(Target[position]);
            if (target == IgnoreIndex)
            {
                // An ignored position contributes nothing, even where its logits are NaN or Inf.
                dst.Clear();
            }
            else if (typeof(TC) == typeof(float) && FloatRows.IsSupported && c > 0)
            {
                loss = ClassRowFloat(x, (int)target, dst, tmp, Upstream(position));
            }
            else
            {
                loss = ClassRow(x, (int)target, dst.IsEmpty ? tmp.AsSpan(0, c) : dst, !dst.IsEmpty, Upstream(position));
            }
        }
        else if (c > 0)
        {
            if (Kind == RowKind.ProbabilityTarget && typeof(TC) == typeof(float) && FloatRows.IsSupported)
            {
                loss = ProbabilityRowFloat(x, t, dst, tmp, tmp2, Upstream(position));
            }
            else if (Kind == RowKind.ProbabilityTarget)
            {
                loss = ProbabilityRow(x, t, dst.IsEmpty ? tmp.AsSpan(0, c) : dst, tmp2.AsSpan(0, c), !dst.IsEmpty, Upstream(position));
            }
            else if (!(typeof(TC) == typeof(float) && FloatRows.IsSupported && LogSoftmaxFloat(x, dst)))
            {
                TC m = TensorPrimitives.Max<TC>(x);
                TensorPrimitives.Subtract(x, m, dst);
                TC logS = TC.Log(SumExp(dst, tmp.AsSpan(0, c)));
                TensorPrimitives.Subtract(dst, logS, dst);
            }
        }

        if (Loss != null)
        {
            Loss[position] = Elements.FromCompute<T, TC>(loss);
        }

        return loss;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly TC Upstream(long position) =>
        GradOutput == null ? GradScale : GradScale * Elements.ToCompute<T, TC>(GradOutput[position]);

    /// <summary>A class-target row of float32, float16 or bfloat16 (AVX-512): its max r (<paramref name="knownMax"/> when
    /// the row before took it; the next row's comes back in <paramref name="nextMax"/>, NaN when not taken), the exps
    /// against it and their sum, Σ w·(x − r) for smoothing, the exps kept in <paramref name="e"/> (C floats) — then the
    /// gradient into <paramref name="dst"/> (the output row, narrowed in registers for 16-bit types) in one more pass.
    /// log-softmax is x − r − log Σ exp(x − r) for any r, so the loss and gradient formulas of <see cref="ClassRow"/>
    /// hold with r for the max. <paramref name="done"/> is false, nothing written, for a row with a NaN or infinite
    /// logit, which the general path gives PyTorch's NaNs.</summary>
    private readonly TC ClassRowFused(T* row, int target, float* e, T* dst, TC gc, float knownMax, T* next, out float nextMax, out bool done)
    {
        int c = G.C;
        float eps = float.CreateTruncating(Smoothing);
        float* w = (float*)Weight;
        nextMax = float.NaN;
        if (dst == null && eps == 0f)
        {
            // Forward only: the exps against the target's logit, so that the loss is log Σ exp(x − x_t) with nothing
            // subtracted from it (a small loss keeps its digits, as it does against the max), in one read. A target more
            // than about 69 below the max (a sum past FloatRows.SumLimit), an infinity or a NaN: chunk by chunk against
            // the max.
            float xt = Elements.ToCompute<T, float>(row[target]);
            if (float.IsFinite(xt))
            {
                // (Short rows prefetch a few rows ahead, at least 4096 elements: the next row alone comes too late, and the
                // exps wait on x_t.)
                float st = FloatRows.ExpSumAgainst(row, c, xt, null, null, false, (float*)(row + Math.Max(c, 4096)), out _);
                if (st < FloatRows.SumLimit)
                {
                    done = true;
                    return TC.CreateTruncating(ClassRowTerms(target, st, 0f, 0f, 0f, out _, out _, out _));
                }
            }

            done = FloatRows.SumExpOneRead(row, c, out float mf, out float sf);
            return done ? TC.CreateTruncating(ClassRowTerms(target, sf, xt - mf, 0f, 0f, out _, out _, out _)) : TC.Zero;
        }

        // The max, as PyTorch takes it: from the row before's exp pass when it took it, else a pass of its own (the row
        // then sits in L2 for the exps). x − max is exact near the max, where the large terms are, and log s − (x_t − max)
        // keeps a small loss's digits. (Against the first logit instead, a
        // loss of 7e-4 with that logit 49 below the max came out 1.8e-3 off relative, and gradients 30 ulps off.)
        float r = float.IsNaN(knownMax) ? FloatRows.MaxOf(row, c) : knownMax;
        done = float.IsFinite(r);
        if (!done)
        {
            return TC.Zero;   // +∞ or NaN (the general path gives PyTorch's NaNs), or all −∞
        }

        // Rows lie one after another: the next row comes into L2 while this one's exps run.
        float* ahead = (float*)(row + c);
        float* keep = dst != null ? e : null;
        float s = FloatRows.ExpSumAgainst(row, c, r, keep, w, eps != 0f, ahead, next, out float sumWd, out nextMax);
        if (float.IsNaN(s))
        {
            done = false;   // a NaN the max did not show
            return TC.Zero;
        }

        float dt = Elements.ToCompute<T, float>(row[target]) - r;
        float loss = ClassRowTerms(target, s, dt, sumWd, float.CreateTruncating(gc), out float a, out float b, out float fix);
        if (dst != null)
        {
            float* bw = eps != 0f ? w : null;
            float gt = TargetGradient(e[target], a, b, bw, target, fix);
            bool nonTemporal = StreamsRows;
            if (typeof(T) == typeof(float))
            {
                FloatRows.Affine(e, c, a, b, bw, (float*)dst, nonTemporal);
                ((float*)dst)[target] = gt;
            }
            else
            {
                // a·e sums to g·A over the row, so at most g·A·2^15 of its terms reach 2^−15: when those are few (a mean
                // over many rows), nearly every float16 gradient is a subnormal half, which rounds in 4 instructions.
                bool mostlyTiny = typeof(T) == typeof(Half) && MathF.Abs(a) * s * 32768f <= c / 32
                    && (b == 0f || (bw == null && MathF.Abs(b) < 1f / 32768f));
                LowRows.AffineNarrow(e, c, a, b, bw, dst, nonTemporal, mostlyTiny);
                dst[target] = Elements.FromCompute<T, float>(gt);
            }
        }

        return TC.CreateTruncating(loss);
    }

    /// <summary>A class-target row's loss, from its statistics against a reference r (the max or a logit of the row):
    /// s = Σ exp(x − r), dt = x_t − r, sumWd = Σ w·(x − r); and its gradient as ∂loss/∂x_c = a·e_c + b·w_c − [c = t]·fix
    /// with e_c = exp(x_c − r) and g the upstream gradient times the reduction's scale: a = g·A/s, b = −g·ε/C,
    /// fix = g·(1 − ε)·w_t (the formulas of <see cref="ClassRow"/>). b is exactly 0 without smoothing, so an infinite g
    /// (a mean over zero total weight) gives ±∞, not NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly float ClassRowTerms(int target, float s, float dt, float sumWd, float g, out float a, out float b, out float fix)
    {
        float eps = float.CreateTruncating(Smoothing);
        float wt = Weight == null ? 1f : ((float*)Weight)[target];
        float logS = MathF.Log(s);
        float loss = wt * (logS - dt);
        float epsOverC = eps / G.C;
        float weightSum = float.CreateTruncating(WeightSum);
        if (eps != 0f)
        {
            loss = (1f - eps) * loss + epsOverC * (weightSum * logS - sumWd);
        }

        a = g * ((1f - eps) * wt + epsOverC * weightSum) / s;
        b = eps != 0f ? -(g * epsOverC) : 0f;
        fix = g * (1f - eps) * wt;
        return loss;
    }

    /// <summary>∂loss/∂x_t from <see cref="ClassRowTerms"/>' coefficients: a·e_t + b·w_t − fix, w_t = 1 when
    /// <paramref name="bw"/> (the weights in the smoothing term) is null. The row passes write a·e + b·w everywhere
    /// and this over the target's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float TargetGradient(float et, float a, float b, float* bw, int target, float fix) =>
        MathF.FusedMultiplyAdd(et, a, b * (bw == null ? 1f : bw[target])) - fix;

    /// <summary>The fused float32 path of <see cref="ClassRow"/>: a max pass, one exp pass that sums (and keeps the exps
    /// in <paramref name="scratch"/> when the row fits), and one pass that writes the gradient.</summary>
    private readonly TC ClassRowFloat(Span<TC> xs, int target, Span<TC> dsts, TC[] scratch, TC gc) =>
        ClassRowFloat(xs, target, dsts, scratch, gc, float.NaN, null, out _);

    /// <summary><see cref="ClassRowFloat(Span{TC}, int, Span{TC}, TC[], TC)"/> with the row's max when the caller took it
    /// (<paramref name="knownMax"/>, NaN for none), and with <paramref name="narrowTo"/> the gradient rounded to
    /// <typeparamref name="T"/> there instead of written to <paramref name="dsts"/> (<paramref name="narrowed"/>; a row
    /// left to the general path is written to dsts).</summary>
    private readonly TC ClassRowFloat(Span<TC> xs, int target, Span<TC> dsts, TC[] scratch, TC gc, float knownMax, T* narrowTo, out bool narrowed)
    {
        narrowed = false;
        int c = G.C;
        if (dsts.IsEmpty && Smoothing == TC.Zero)
        {
            // Forward only: the statistics in one read of the row.
            fixed (TC* px = xs)
            {
                float* x = (float*)px;
                if (FloatRows.SumExpOneRead(x, c, out float mf, out float sf))
                {
                    return TC.CreateTruncating(ClassRowTerms(target, sf, x[target] - mf, 0f, 0f, out _, out _, out _));
                }
            }
        }

        float g = float.CreateTruncating(gc);
        float eps = float.CreateTruncating(Smoothing);
        float* w = (float*)Weight;
        fixed (TC* px = xs)
        fixed (TC* pd = dsts)
        fixed (TC* ps = scratch)
        {
            float* x = (float*)px, dst = (float*)pd, e = (float*)ps;
            float m = float.IsNaN(knownMax) ? FloatRows.Max(x, c) : knownMax;
            bool keep = dst != null && c <= ScratchClasses;
            // Rows read in place lie one after another: the next row comes into cache while this one's exps run.
            float* ahead = G.D == 1 && typeof(T) == typeof(TC) ? x + c : null;
            float s = float.IsFinite(m) ? FloatRows.ExpSum(x, c, m, keep ? e : null, ahead) : float.NaN;
            if (float.IsNaN(s))
            {
                // NaN or +∞ make the row NaN, all −∞ too: PyTorch's semantics, left to the general path. (The bare max
                // may miss a NaN; the sum of exps does not.)
                return ClassRow(xs, target, dsts.IsEmpty ? scratch.AsSpan(0, c) : dsts, !dsts.IsEmpty, gc);
            }

            float sumWd = eps != 0f ? FloatRows.TargetSums(x, null, c, m, w, 1f, 0f, out _) : 0f;
            float dt = x[target] - m;
            float loss = ClassRowTerms(target, s, dt, sumWd, g, out float a, out float b, out float fix);
            if (dst != null)
            {
                float* bw = eps != 0f ? w : null;
                if (narrowTo != null && keep)
                {
                    LowRows.AffineNarrow(e, c, a, b, bw, narrowTo, StreamsRows);
                    narrowTo[target] = Elements.FromCompute<T, float>(TargetGradient(e[target], a, b, bw, target, fix));
                    narrowed = true;
                    return TC.CreateTruncating(loss);
                }

                bool nonTemporal = typeof(T) == typeof(float) && StreamsRows;
                if (keep)
                {
                    FloatRows.Affine(e, c, a, b, bw, dst, nonTemporal);
                }
                else
                {
                    FloatRows.ExpAffine(x, c, m, a, b, bw, dst, nonTemporal);
                }

                float et = keep ? e[target] : MathF.Exp(dt);
                dst[target] = TargetGradient(et, a, b, bw, target, fix);
            }

            return TC.CreateTruncating(loss);
        }
    }

    private readonly TC ClassRow(Span<TC> x, int target, Span<TC> e, bool writeGradient, TC g)
    {
        int c = G.C;
        TC eps = Smoothing;
        TC m = TensorPrimitives.Max<TC>(x);
        TensorPrimitives.Subtract(x, m, e);
        TC dt = e[target];
        TC sumWd = TC.Zero;
        ReadOnlySpan<TC> w = Weight == null ? default : new ReadOnlySpan<TC>(Weight, c);
        if (eps != TC.Zero)
        {
            sumWd = Weight == null ? BlockSums.Sum<TC>(e) : BlockSums.Dot<TC>(w, e);
        }

        TensorPrimitives.Exp<TC>(e, e);
        TC s = BlockSums.Sum<TC>(e);
        TC logS = TC.Log(s);
        TC wt = Weight == null ? TC.One : Weight[target];
        TC loss = wt * (logS - dt);
        TC epsOverC = eps / TC.CreateTruncating(c);
        if (eps != TC.Zero)
        {
            loss = (TC.One - eps) * loss + epsOverC * (WeightSum * logS - sumWd);
        }

        if (writeGradient)
        {
            TC a = (TC.One - eps) * wt + epsOverC * WeightSum;
            TensorPrimitives.Multiply<TC>(e, g * a / s, e);
            if (eps != TC.Zero)
            {
                if (Weight == null)
                {
                    TensorPrimitives.Subtract<TC>(e, g * epsOverC, e);
                }
                else
                {
                    TensorPrimitives.MultiplyAdd<TC>(w, -(g * epsOverC), e, e);
                }
            }

            e[target] -= g * (TC.One - eps) * wt;
        }

        return loss;
    }

    /// <summary>The fused float32 path of <see cref="ProbabilityRow"/>: the max (unless the row before took it), then on
    /// AVX-512 one pass over the row (in cache) and its targets (exps against the max, kept in the scratch row, with the
    /// two target sums), otherwise the target sums and the exps in turn; then one gradient write. u = w·t' is recomputed
    /// on the fly rather than stored. Rows with a NaN or infinite logit take <see cref="ProbabilityRow"/>.</summary>
    private readonly TC ProbabilityRowFloat(Span<TC> xs, Span<TC> ts, Span<TC> dsts, TC[] scratch, TC[] scratch2, TC gc) =>
        ProbabilityRowFloat(xs, ts, dsts, scratch, scratch2, gc, float.NaN, null, out _);

    /// <summary><see cref="ProbabilityRowFloat(Span{TC}, Span{TC}, Span{TC}, TC[], TC[], TC)"/> with the row's max when
    /// the row before took it (<paramref name="knownMax"/>; NaN for none), taking the max of the next row
    /// <paramref name="next"/> (null for none) during this row's exps: <paramref name="nextMax"/>, NaN when it was not
    /// taken.</summary>
    private readonly TC ProbabilityRowFloat(Span<TC> xs, Span<TC> ts, Span<TC> dsts, TC[] scratch, TC[] scratch2, TC gc,
        float knownMax, float* next, out float nextMax)
    {
        int c = G.C;
        float m = knownMax;
        nextMax = float.NaN;
        if (float.IsNaN(m))
        {
            fixed (TC* px = xs)
            {
                // (The bare vmaxps may drop a NaN; the exps' sum shows it. TensorPrimitives.Max's IEEE max was 11% of a
                // bfloat16 4096 × 32000 row's forward+backward with AVX2.)
                m = Avx512F.IsSupported || FloatRows.IsAvx2 ? FloatRows.Max((float*)px, c) : float.CreateTruncating(TensorPrimitives.Max<TC>(xs));
            }
        }

        if (!float.IsFinite(m))
        {
            return ProbabilityRow(xs, ts, dsts.IsEmpty ? scratch.AsSpan(0, c) : dsts, scratch2.AsSpan(0, c), !dsts.IsEmpty, gc);
        }

        (float keep, float add) = SmoothedTarget;
        float g = float.CreateTruncating(gc);
        fixed (TC* px = xs)
        fixed (TC* pt = ts)
        fixed (TC* pd = dsts)
        fixed (TC* ps = scratch)
        {
            float* x = (float*)px, t = (float*)pt, dst = (float*)pd, e = (float*)ps, w = (float*)Weight;
            float s = 0f, q = float.NaN, ud = 0f;
            if (Avx512F.IsSupported)
            {
                // (m is finite: a +∞ would be the max; a NaN shows in s.)
                s = FloatRows.ProbabilityStats(x, t, c, m, w, keep, add, dst != null ? e : null, next, out q, out ud, out nextMax);
                if (float.IsNaN(s))
                {
                    return ProbabilityRow(xs, ts, dsts.IsEmpty ? scratch.AsSpan(0, c) : dsts, scratch2.AsSpan(0, c), !dsts.IsEmpty, gc);
                }
            }

            if (!float.IsFinite(q))
            {
                ud = FloatRows.TargetSums(x, t, c, m, w, keep, add, out q);
                s = FloatRows.ExpSum(x, c, m, dst != null ? e : null);
                if (float.IsNaN(s))
                {
                    return ProbabilityRow(xs, ts, dsts.IsEmpty ? scratch.AsSpan(0, c) : dsts, scratch2.AsSpan(0, c), !dsts.IsEmpty, gc);   // a NaN logit the max dropped
                }
            }

            float loss = q * MathF.Log(s) - ud;
            if (dst != null)
            {
                // Streamed past the cache when it is the output itself (float32 rows, not a scratch row to narrow or
                // scatter) and the whole gradient is large, as for class targets.
                bool stream = typeof(T) == typeof(TC) && G.D == 1 && G.Elements * sizeof(float) >= NonTemporalBytes;
                FloatRows.ProbabilityGradient(e, t, c, g * q / s, g, w, keep, add, dst, stream);
            }

            return TC.CreateTruncating(loss);
        }
    }

    /// <summary><see cref="ProbabilityRowFloat(Span{TC}, Span{TC}, Span{TC}, TC[], TC[], TC, float, float*, out float)"/>
    /// for a float16 or bfloat16 row read in place (AVX-512): the max, then the exps and sums with the logits and targets
    /// widened as they are loaded, the exps kept in <paramref name="e"/>, then the gradient narrowed as it is stored (into
    /// <paramref name="dst"/>; null for none): the float kernel's results on the widened values, rounded once. A row whose
    /// max, sum or target sum is not finite is left undone (<paramref name="done"/> false) for the widened path.</summary>
    private readonly TC ProbabilityRowLow(T* x, T* t, T* dst, float* e, TC gc, out bool done)
    {
        int c = G.C;
        done = false;
        float m = FloatRows.MaxOf(x, c);
        if (!float.IsFinite(m))
        {
            return TC.Zero;
        }

        (float keep, float add) = SmoothedTarget;
        float g = float.CreateTruncating(gc);
        float* w = (float*)Weight;
        float s = FloatRows.ProbabilityStats(x, t, c, m, w, keep, add, dst != null ? e : null, null, out float q, out float ud, out _);
        if (float.IsNaN(s) || !float.IsFinite(q))
        {
            return TC.Zero;
        }

        if (dst != null)
        {
            FloatRows.ProbabilityGradient(e, t, c, g * q / s, g, w, keep, add, dst, StreamsRows);
        }

        done = true;
        return TC.CreateTruncating(q * MathF.Log(s) - ud);
    }

    private readonly TC ProbabilityRow(Span<TC> x, Span<TC> t, Span<TC> e, Span<TC> u, bool writeGradient, TC g)
    {
        int c = G.C;
        TC eps = Smoothing;
        TC m = TensorPrimitives.Max<TC>(x);
        TensorPrimitives.Subtract(x, m, e);

        // u = w ⊙ t', t' = t·(1 − ε) + ε/C (PyTorch applies the smoothing only when ε > 0).
        if (eps != TC.Zero)
        {
            TensorPrimitives.Multiply<TC>(t, TC.One - eps, u);
            TensorPrimitives.Add<TC>(u, eps / TC.CreateTruncating(c), u);
        }
        else
        {
            t.CopyTo(u);
        }

        if (Weight != null)
        {
            TensorPrimitives.Multiply<TC>(u, new ReadOnlySpan<TC>(Weight, c), u);
        }

        TC q = BlockSums.Sum<TC>(u);
        TC ud = BlockSums.Dot<TC>(u, e);
        TensorPrimitives.Exp<TC>(e, e);
        TC s = BlockSums.Sum<TC>(e);
        TC loss = q * TC.Log(s) - ud;
        if (writeGradient)
        {
            TensorPrimitives.Multiply<TC>(e, g * q / s, e);
            TensorPrimitives.MultiplyAdd<TC>(u, -g, e, e);
        }

        return loss;
    }

    /// <summary>log p = (x − m) − log Σ exp(x − m) with m the row's max, as PyTorch takes it: x − m is exact near the max,
    /// where x − (m + log s) would lose log s in m's last bits (a logit of 65504 came out 0.0017 off, one of 10^30 0 instead
    /// of −ln 2). A max pass, an exp pass and two subtracting passes. Returns false, having written nothing, when the max is not
    /// finite or the row holds a NaN (the general path gives PyTorch's NaNs).</summary>
    private static bool LogSoftmaxFloat(Span<TC> x, Span<TC> dst)
    {
        fixed (TC* px = x)
        {
            float m = FloatRows.Max((float*)px, x.Length);
            if (!float.IsFinite(m))
            {
                return false;
            }

            float s = FloatRows.ExpSum((float*)px, x.Length, m, null);
            if (float.IsNaN(s))
            {
                return false;   // a NaN, which the bare vmaxps may have dropped
            }

            Span<float> xf = MemoryMarshal.Cast<TC, float>(x), df = MemoryMarshal.Cast<TC, float>(dst);
            TensorPrimitives.Subtract(xf, m, df);
            TensorPrimitives.Subtract(df, MathF.Log(s), df);
            return true;
        }
    }

    private static TC SumExp(ReadOnlySpan<TC> d, Span<TC> scratch)
    {
        TensorPrimitives.Exp<TC>(d, scratch);
        return BlockSums.Sum<TC>(scratch);
    }
}
