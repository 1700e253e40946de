using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Xent.Kernels;

/// <summary>Single-precision matrix product in managed code: C[m × n] (=|+=) op(A)[m × k] · op(B)[k × n], with A
/// float and B float, Half or BFloat16 (widened while packing, accumulated in float). The three products of a
/// linear layer's forward and backward are its uses: logits = H·Wᵀ (B transposed), gradH = G·W, gradW += Gᵀ·H
/// (A transposed).</summary>
/// <remarks>
/// <para>GotoBLAS/BLIS structure. The output is cut into tasks of at most <see cref="GemmBlocking.Rows"/> rows by
/// <see cref="GemmBlocking.Columns"/> columns; a worker takes a contiguous run of tasks. Per task: for each kc-slice of k
/// (<see cref="GemmBlocking.Depth"/>), pack op(A)'s rows × kc into MR-row micro-panels, then for each column block pack
/// op(B)'s kc × columns into NR-column micro-panels and sweep the register tile over them, A micro-panel outer
/// (it stays in L1: 12 × 512 floats = 24 KiB of 32 KiB), B block inner (its 32-column micro-panels stream from
/// L2/L3).</para>
/// <para>Determinism: an element of C is the k-ordered FMA chain of each kc-slice, the slices added to C in order.
/// Nothing about that depends on the thread count or the task grid — only on <see cref="GemmBlocking.Depth"/>, a constant —
/// so results are bit-identical for any <see cref="Parallelism.MaxDegreeOfParallelism"/>.</para>
/// </remarks>
internal static unsafe class Gemm
{
    /// <summary>Below about this many multiply-adds per worker a call stays on one thread: a parallel hand-off costs
    /// tens of microseconds, the time of about this much arithmetic.</summary>
    private const long MinFmasPerWorker = 1 << 21;

    /// <summary>C = op(A)·op(B), or C += op(A)·op(B) when <paramref name="accumulate"/>.</summary>
    /// <param name="m">Rows of C and of op(A).</param>
    /// <param name="n">Columns of C and of op(B).</param>
    /// <param name="k">Columns of op(A), rows of op(B).</param>
    /// <param name="a">A; op(A)(i, p) = a[i·lda + p], or a[p·lda + i] when <paramref name="transA"/>.</param>
    /// <param name="lda">A's row stride.</param>
    /// <param name="transA">Whether A is stored k × m.</param>
    /// <param name="b">B; op(B)(p, j) = b[p·ldb + j], or b[j·ldb + p] when <paramref name="transB"/>.</param>
    /// <param name="ldb">B's row stride.</param>
    /// <param name="transB">Whether B is stored n × k.</param>
    /// <param name="c">C, m rows of stride <paramref name="ldc"/>.</param>
    /// <param name="ldc">C's row stride.</param>
    /// <param name="accumulate">Add to C instead of overwriting it.</param>
    /// <param name="workspace">Packing buffers to reuse across calls, or null for a temporary one.</param>
    /// <param name="blocking">The cache blocking; <see cref="GemmBlocking.Default"/> when null.</param>
    /// <param name="isa">The kernel to use (tests force each); the best supported by default.</param>
    public static void Multiply<TB>(int m, int n, int k, float* a, nint lda, bool transA, TB* b, nint ldb, bool transB,
        float* c, nint ldc, bool accumulate, GemmWorkspace? workspace = null, GemmBlocking? blocking = null,
        GemmIsa? isa = null)
        where TB : unmanaged
    {
        if (m <= 0 || n <= 0)
        {
            return;
        }

        if (k <= 0)
        {
            if (!accumulate)
            {
                for (int i = 0; i < m; i++) new Span<float>(c + i * ldc, n).Clear();
            }

            return;
        }

        GemmIsa kernel = isa ?? GemmMicroKernels.Best;
        GemmBlocking block = blocking ?? GemmBlocking.Default;
        var job = new Job<TB>
        {
            M = m, N = n, K = k, A = a, Lda = lda, TransA = transA, B = b, Ldb = ldb, TransB = transB, C = c, Ldc = ldc,
            Accumulate = accumulate, Isa = kernel, Mr = GemmMicroKernels.Mr(kernel), Nr = GemmMicroKernels.Nr(kernel),
            Kc = block.Depth, RowBlock = block.Rows, ColumnBlock = block.Columns,
        };

        long fmas = (long)m * n * k;
        int maxWorkers = (int)Math.Clamp(fmas / MinFmasPerWorker, 1, Parallelism.MaxDegreeOfParallelism);
        job.Plan(maxWorkers);
        int workers = (int)Math.Min(maxWorkers, job.Tasks);
        GemmWorkspace ws = workspace ?? new GemmWorkspace();
        try
        {
            ws.Reserve(workers, job.RowsPerTask * (long)job.Kc, job.Kc * (long)job.ColsPerTask, 16L * job.Kc);
            job.Workspace = ws;
            if (workers <= 1)
            {
                job.Run(0, 0, job.Tasks);
            }
            else
            {
                Job<TB> copy = job;
                Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
                {
                    Job<TB> local = copy;
                    local.Run(w, local.Tasks * w / workers, local.Tasks * (w + 1) / workers);
                });
            }
        }
        finally
        {
            if (workspace == null)
            {
                ws.Dispose();
            }
        }
    }

    private struct Job<TB>
        where TB : unmanaged
    {
        public int M, N, K;
        public float* A;
        public nint Lda;
        public bool TransA;
        public TB* B;
        public nint Ldb;
        public bool TransB;
        public float* C;
        public nint Ldc;
        public bool Accumulate;
        public GemmIsa Isa;
        public int Mr, Nr, Kc, RowBlock, ColumnBlock;
        public GemmWorkspace Workspace;

        public int RowsPerTask, ColsPerTask, RowTasks, ColTasks;

        public readonly long Tasks => (long)RowTasks * ColTasks;

        /// <summary>Cuts C into a grid of tasks. The natural blocks are <see cref="GemmBlocking.Rows"/> × <see cref="GemmBlocking.Columns"/>;
        /// when that gives fewer tasks than workers, the dimension whose split repacks less is cut finer: more column
        /// tasks repack op(A) (m·k) once each, more row tasks repack op(B) (k·n) once each.</summary>
        public void Plan(int workers)
        {
            RowsPerTask = Math.Min(RoundUp(M, Mr), RoundUp(RowBlock, Mr));
            ColsPerTask = Math.Min(RoundUp(N, Nr), RoundUp(ColumnBlock, Nr));
            RowTasks = CeilDiv(M, RowsPerTask);
            ColTasks = CeilDiv(N, ColsPerTask);
            if (RowTasks * (long)ColTasks >= workers)
            {
                return;
            }

            if (M <= N)
            {
                int want = CeilDiv(workers, RowTasks);
                ColsPerTask = RoundUp(CeilDiv(N, want), Nr);
                ColTasks = CeilDiv(N, ColsPerTask);
            }
            else
            {
                int want = CeilDiv(workers, ColTasks);
                RowsPerTask = RoundUp(CeilDiv(M, want), Mr);
                RowTasks = CeilDiv(M, RowsPerTask);
            }
        }

        /// <summary>Tasks [t0, t1) in row-major grid order: consecutive tasks of one task row share the packed A.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int worker, long t0, long t1)
        {
            float* packA = Workspace.PackA(worker);
            float* packB = Workspace.PackB(worker);
            float* scratch = Workspace.Scratch(worker);
            long t = t0;
            while (t < t1)
            {
                int rt = (int)(t / ColTasks);
                int ct0 = (int)(t % ColTasks);
                int ct1 = (int)Math.Min(ColTasks, ct0 + (t1 - t));
                int i0 = rt * RowsPerTask;
                int mc = Math.Min(RowsPerTask, M - i0);
                for (int p0 = 0; p0 < K; p0 += Kc)
                {
                    int kc = Math.Min(Kc, K - p0);
                    bool add = Accumulate || p0 > 0;
                    GemmPack.A(A, Lda, TransA, i0, mc, p0, kc, Mr, packA);
                    for (int ct = ct0; ct < ct1; ct++)
                    {
                        int j0 = ct * ColsPerTask;
                        int nc = Math.Min(ColsPerTask, N - j0);
                        GemmPack.B(B, Ldb, TransB, p0, kc, j0, nc, Nr, packB, scratch);
                        Macro(kc, packA, mc, packB, nc, C + i0 * Ldc + j0, add);
                    }
                }

                t += ct1 - ct0;
            }
        }

        /// <summary>Sweeps the register tile over a packed A block (mc rows) and B block (nc columns).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Macro(int kc, float* packA, int mc, float* packB, int nc, float* c, bool add)
        {
            for (int ip = 0; ip < mc; ip += Mr)
            {
                int rows = Math.Min(Mr, mc - ip);
                float* ap = packA + (nint)ip * kc;
                for (int jp = 0; jp < nc; jp += Nr)
                {
                    int cols = Math.Min(Nr, nc - jp);
                    GemmMicroKernels.Tile(Isa, kc, ap, packB + (nint)jp * kc, c + ip * Ldc + jp, Ldc, rows, cols, add);
                }
            }
        }
    }

    private static int CeilDiv(int x, int y) => (x + y - 1) / y;

    private static int RoundUp(int x, int y) => CeilDiv(x, y) * y;
}

/// <summary>The cache blocking of <see cref="Gemm"/>: kc (<paramref name="Depth"/>), the columns of op(B) per packed
/// block (<paramref name="Columns"/>) and the most rows of op(A) per task (<paramref name="Rows"/>). Columns and rows
/// are rounded up to the tile; only <paramref name="Depth"/> affects the result's bits.</summary>
/// <param name="Depth">kc, the depth of one packed slice of k.</param>
/// <param name="Columns">Columns of op(B) per packed block.</param>
/// <param name="Rows">Most rows of op(A) per task.</param>
internal readonly record struct GemmBlocking(int Depth, int Columns, int Rows)
{
    /// <summary>kc = 512 keeps the 12 × kc A micro-panel (24 KiB) in the 32 KiB L1 of a Zen 4 core and makes a
    /// hidden size of 512 one slice, so the logits product writes C once. Measured (bench/Xent.LinearBench
    /// gemm --ab, medians of 7 interleaved runs, GFLOP per CPU-second on one core, logits / gradH / gradW shapes):
    /// kc 256: 90 / 87 / 87; kc 384: 91 / 88 / 88; kc 512: 94 / 87 / 87; kc 512 with 256 columns: 95 / 88 / 79.
    /// The 480-row A block and 512-column B block were no better or worse within the noise of a shared machine
    /// (gemm --tune).</summary>
    public static GemmBlocking Default { get; } = new(512, 512, 480);
}

/// <summary>Per-worker packing buffers for <see cref="Gemm"/>, 64-byte aligned native memory (so panels never split a
/// cache line and the GC never sees them), grown on demand and reused across calls.</summary>
internal sealed unsafe class GemmWorkspace : IDisposable
{
    private const int Alignment = 64;
    private Buffer[] _buffers = [];

    private struct Buffer
    {
        public float* A, B, Scratch;
        public long ALength, BLength, ScratchLength;
    }

    /// <summary>Total bytes held, for the memory accounting of callers.</summary>
    public long Bytes { get; private set; }

    public void Reserve(int workers, long aFloats, long bFloats, long scratchFloats)
    {
        if (_buffers.Length < workers)
        {
            Array.Resize(ref _buffers, workers);
        }

        for (int w = 0; w < workers; w++)
        {
            ref Buffer buf = ref _buffers[w];
            Grow(ref buf.A, ref buf.ALength, aFloats);
            Grow(ref buf.B, ref buf.BLength, bFloats);
            Grow(ref buf.Scratch, ref buf.ScratchLength, scratchFloats);
        }
    }

    public float* PackA(int worker) => _buffers[worker].A;

    public float* PackB(int worker) => _buffers[worker].B;

    public float* Scratch(int worker) => _buffers[worker].Scratch;

    private void Grow(ref float* p, ref long length, long floats)
    {
        if (length >= floats)
        {
            return;
        }

        if (p != null)
        {
            NativeMemory.AlignedFree(p);
            Bytes -= length * sizeof(float);
        }

        p = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), Alignment);
        length = floats;
        Bytes += floats * sizeof(float);
    }

    public void Dispose()
    {
        for (int w = 0; w < _buffers.Length; w++)
        {
            ref Buffer buf = ref _buffers[w];
            if (buf.A != null) NativeMemory.AlignedFree(buf.A);
            if (buf.B != null) NativeMemory.AlignedFree(buf.B);
            if (buf.Scratch != null) NativeMemory.AlignedFree(buf.Scratch);
            buf = default;
        }

        Bytes = 0;
    }
}
