using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Xent.Kernels;

namespace Xent.Linear;

/// <summary>The vector operations the row kernel needs, one implementation per width, so <see cref="LinearRows"/> is
/// written once (the TensorPrimitives operator pattern). Everything inlines into the kernel, which is compiled fully
/// optimized from its first call.</summary>
/// <typeparam name="TSelf">The implementing vector type.</typeparam>
internal unsafe interface IRowVector<TSelf>
    where TSelf : struct, IRowVector<TSelf>
{
    static abstract int Count { get; }

    static abstract TSelf Load(float* p);

    static abstract void Store(TSelf v, float* p);

    static abstract TSelf Create(float x);

    static abstract TSelf Add(TSelf a, TSelf b);

    static abstract TSelf Subtract(TSelf a, TSelf b);

    static abstract TSelf Multiply(TSelf a, TSelf b);

    static abstract TSelf Divide(TSelf a, TSelf b);

    /// <summary>a·b + c.</summary>
    static abstract TSelf MultiplyAdd(TSelf a, TSelf b, TSelf c);

    /// <summary>IEEE 754:2019 maximum: NaN if either is NaN, so a NaN logit makes the row's max (and loss) NaN.</summary>
    static abstract TSelf Max(TSelf a, TSelf b);

    /// <summary>The machine's own maximum (one vmaxps on x86, which returns <paramref name="b"/> when either is NaN):
    /// for callers that see a NaN elsewhere (in the sum of exps against the max).</summary>
    static abstract TSelf MaxNative(TSelf a, TSelf b);

    /// <summary>The lanes equal to <paramref name="b"/>, as bits (lane 0 in bit 0).</summary>
    static abstract uint EqualsBits(TSelf a, TSelf b);

    /// <summary><paramref name="ifEqual"/> in the lanes where <paramref name="x"/> equals <paramref name="y"/>,
    /// <paramref name="otherwise"/> elsewhere.</summary>
    static abstract TSelf SelectWhereEqual(TSelf x, TSelf y, TSelf ifEqual, TSelf otherwise);

    /// <summary>eˣ: the row kernels' exp (<see cref="Kernels.FloatRows.Exp(System.Runtime.Intrinsics.Vector512{float})"/>),
    /// within 2 ulp for the x ≤ 0 that the linear loss passes (x − max); NaN stays NaN. Not <c>Vector512.Exp</c>, which
    /// the JIT does not inline and which runs its first calls at tier 0.</summary>
    static abstract TSelf Exp(TSelf v);

    /// <summary>ln x for the positive sums of exps the loss takes it of: AVX-512 the row kernels' own (within 1 ulp),
    /// otherwise .NET's vector log; NaN for 0, ∞ and NaN.</summary>
    static abstract TSelf Log(TSelf v);

    /// <summary>tanh as Eigen's and XLA's odd rational minimax x·P(x²)/Q(x²) of degrees 13/6 on |x| ≤ 7.905 (beyond
    /// which tanh rounds to ±1 in float), a few ulp; x itself below 4e-4.</summary>
    static abstract TSelf Tanh(TSelf v);

    static abstract float MaxAcross(TSelf v);

    static abstract float SumAcross(TSelf v);
}

/// <summary>512-bit lanes (AVX-512).</summary>
internal readonly unsafe struct RowVector512 : IRowVector<RowVector512>
{
    private readonly Vector512<float> _v;

    private RowVector512(Vector512<float> v) => _v = v;

    public static int Count => Vector512<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Load(float* p) => new(Vector512.Load(p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(RowVector512 v, float* p) => v._v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Create(float x) => new(Vector512.Create(x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Add(RowVector512 a, RowVector512 b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Subtract(RowVector512 a, RowVector512 b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Multiply(RowVector512 a, RowVector512 b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Divide(RowVector512 a, RowVector512 b) => new(a._v / b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 MultiplyAdd(RowVector512 a, RowVector512 b, RowVector512 c) => new(Vector512.FusedMultiplyAdd(a._v, b._v, c._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Max(RowVector512 a, RowVector512 b) => new(Vector512.Max(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 MaxNative(RowVector512 a, RowVector512 b) => new(Vector512.MaxNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 SelectWhereEqual(RowVector512 x, RowVector512 y, RowVector512 ifEqual, RowVector512 otherwise) =>
        new(Vector512.ConditionalSelect(Vector512.Equals(x._v, y._v), ifEqual._v, otherwise._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint EqualsBits(RowVector512 a, RowVector512 b) => (uint)Vector512.Equals(a._v, b._v).ExtractMostSignificantBits();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Exp(RowVector512 v) => new(FloatRows.Exp(v._v));   // x − max ≤ 0 here, as for the row kernels

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Log(RowVector512 v) => new(FloatRows.Log(v._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector512 Tanh(RowVector512 v)
    {
        Vector512<float> x = Vector512.Min(Vector512.Max(v._v, Vector512.Create(-7.90531110763549805f)), Vector512.Create(7.90531110763549805f));
        Vector512<float> x2 = x * x;
        Vector512<float> p = Vector512.FusedMultiplyAdd(x2, Vector512.Create(-2.76076847742355e-16f), Vector512.Create(2.00018790482477e-13f));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(-8.60467152213735e-11f));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(5.12229709037114e-08f));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(1.48572235717979e-05f));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(6.37261928875436e-04f));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(4.89352455891786e-03f));
        Vector512<float> q = Vector512.FusedMultiplyAdd(x2, Vector512.Create(1.19825839466702e-06f), Vector512.Create(1.18534705686654e-04f));
        q = Vector512.FusedMultiplyAdd(q, x2, Vector512.Create(2.26843463243900e-03f));
        q = Vector512.FusedMultiplyAdd(q, x2, Vector512.Create(4.89352518554385e-03f));
        Vector512<float> small = Vector512.LessThan(Vector512.Abs(v._v), Vector512.Create(4e-4f));
        return new(Vector512.ConditionalSelect(small, v._v, x * p / q));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(RowVector512 v)
    {
        Vector256<float> m = Vector256.Max(v._v.GetLower(), v._v.GetUpper());
        Vector128<float> n = Vector128.Max(m.GetLower(), m.GetUpper());
        float r = n[0];
        for (int i = 1; i < 4; i++) r = float.Max(r, n[i]);
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(RowVector512 v) => Vector512.Sum(v._v);
}

/// <summary>256-bit lanes (AVX2), for machines without AVX-512.</summary>
internal readonly unsafe struct RowVector256 : IRowVector<RowVector256>
{
    private readonly Vector256<float> _v;

    private RowVector256(Vector256<float> v) => _v = v;

    public static int Count => Vector256<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Load(float* p) => new(Vector256.Load(p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(RowVector256 v, float* p) => v._v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Create(float x) => new(Vector256.Create(x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Add(RowVector256 a, RowVector256 b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Subtract(RowVector256 a, RowVector256 b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Multiply(RowVector256 a, RowVector256 b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Divide(RowVector256 a, RowVector256 b) => new(a._v / b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 MultiplyAdd(RowVector256 a, RowVector256 b, RowVector256 c) => new(Vector256.FusedMultiplyAdd(a._v, b._v, c._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Max(RowVector256 a, RowVector256 b) => new(Vector256.Max(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 MaxNative(RowVector256 a, RowVector256 b) => new(Vector256.MaxNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 SelectWhereEqual(RowVector256 x, RowVector256 y, RowVector256 ifEqual, RowVector256 otherwise) =>
        new(Vector256.ConditionalSelect(Vector256.Equals(x._v, y._v), ifEqual._v, otherwise._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint EqualsBits(RowVector256 a, RowVector256 b) => Vector256.Equals(a._v, b._v).ExtractMostSignificantBits();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Exp(RowVector256 v) => new(FloatRows.Exp(v._v));   // x − max ≤ 0 here, as for the row kernels

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Log(RowVector256 v) => new(Vector256.Log(v._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector256 Tanh(RowVector256 v)
    {
        Vector256<float> x = Vector256.Min(Vector256.Max(v._v, Vector256.Create(-7.90531110763549805f)), Vector256.Create(7.90531110763549805f));
        Vector256<float> x2 = x * x;
        Vector256<float> p = Vector256.FusedMultiplyAdd(x2, Vector256.Create(-2.76076847742355e-16f), Vector256.Create(2.00018790482477e-13f));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(-8.60467152213735e-11f));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(5.12229709037114e-08f));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(1.48572235717979e-05f));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(6.37261928875436e-04f));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(4.89352455891786e-03f));
        Vector256<float> q = Vector256.FusedMultiplyAdd(x2, Vector256.Create(1.19825839466702e-06f), Vector256.Create(1.18534705686654e-04f));
        q = Vector256.FusedMultiplyAdd(q, x2, Vector256.Create(2.26843463243900e-03f));
        q = Vector256.FusedMultiplyAdd(q, x2, Vector256.Create(4.89352518554385e-03f));
        Vector256<float> small = Vector256.LessThan(Vector256.Abs(v._v), Vector256.Create(4e-4f));
        return new(Vector256.ConditionalSelect(small, v._v, x * p / q));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(RowVector256 v)
    {
        Vector128<float> n = Vector128.Max(v._v.GetLower(), v._v.GetUpper());
        float r = n[0];
        for (int i = 1; i < 4; i++) r = float.Max(r, n[i]);
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(RowVector256 v) => Vector256.Sum(v._v);
}

/// <summary>128-bit lanes through the portable <see cref="Vector128"/> operations (Arm's AdvSIMD, x86 below AVX2), for the
/// K-dimensional loss tiles (<see cref="Kernels.SoftmaxRows{T, TC, TTarget}"/>); multiply-adds are fused where the
/// machine has FMA (Arm always), separate otherwise.</summary>
internal readonly unsafe struct RowVector128 : IRowVector<RowVector128>
{
    private readonly Vector128<float> _v;

    private RowVector128(Vector128<float> v) => _v = v;

    public static int Count => Vector128<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Load(float* p) => new(Vector128.Load(p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(RowVector128 v, float* p) => v._v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Create(float x) => new(Vector128.Create(x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Add(RowVector128 a, RowVector128 b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Subtract(RowVector128 a, RowVector128 b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Multiply(RowVector128 a, RowVector128 b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Divide(RowVector128 a, RowVector128 b) => new(a._v / b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 MultiplyAdd(RowVector128 a, RowVector128 b, RowVector128 c) => new(Vector128.MultiplyAddEstimate(a._v, b._v, c._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Max(RowVector128 a, RowVector128 b) => new(Vector128.Max(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 MaxNative(RowVector128 a, RowVector128 b) => new(Vector128.MaxNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 SelectWhereEqual(RowVector128 x, RowVector128 y, RowVector128 ifEqual, RowVector128 otherwise) =>
        new(Vector128.ConditionalSelect(Vector128.Equals(x._v, y._v), ifEqual._v, otherwise._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint EqualsBits(RowVector128 a, RowVector128 b) => Vector128.Equals(a._v, b._v).ExtractMostSignificantBits();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Exp(RowVector128 v) => new(FloatRows.Exp(v._v));   // x − max ≤ 0 here, as for the row kernels

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Log(RowVector128 v) => new(Vector128.Log(v._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowVector128 Tanh(RowVector128 v)
    {
        Vector128<float> x = Vector128.Min(Vector128.Max(v._v, Vector128.Create(-7.90531110763549805f)), Vector128.Create(7.90531110763549805f));
        Vector128<float> x2 = x * x;
        Vector128<float> p = Vector128.MultiplyAddEstimate(x2, Vector128.Create(-2.76076847742355e-16f), Vector128.Create(2.00018790482477e-13f));
        p = Vector128.MultiplyAddEstimate(p, x2, Vector128.Create(-8.60467152213735e-11f));
        p = Vector128.MultiplyAddEstimate(p, x2, Vector128.Create(5.12229709037114e-08f));
        p = Vector128.MultiplyAddEstimate(p, x2, Vector128.Create(1.48572235717979e-05f));
        p = Vector128.MultiplyAddEstimate(p, x2, Vector128.Create(6.37261928875436e-04f));
        p = Vector128.MultiplyAddEstimate(p, x2, Vector128.Create(4.89352455891786e-03f));
        Vector128<float> q = Vector128.MultiplyAddEstimate(x2, Vector128.Create(1.19825839466702e-06f), Vector128.Create(1.18534705686654e-04f));
        q = Vector128.MultiplyAddEstimate(q, x2, Vector128.Create(2.26843463243900e-03f));
        q = Vector128.MultiplyAddEstimate(q, x2, Vector128.Create(4.89352518554385e-03f));
        Vector128<float> small = Vector128.LessThan(Vector128.Abs(v._v), Vector128.Create(4e-4f));
        return new(Vector128.ConditionalSelect(small, v._v, x * p / q));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(RowVector128 v)
    {
        float r = v._v[0];
        for (int i = 1; i < 4; i++) r = float.Max(r, v._v[i]);
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(RowVector128 v) => Vector128.Sum(v._v);
}

/// <summary>One lane, for machines without either (and for the rows' tails, through <see cref="LinearRows"/>).</summary>
internal readonly unsafe struct RowScalar : IRowVector<RowScalar>
{
    private readonly float _v;

    private RowScalar(float v) => _v = v;

    public static int Count => 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Load(float* p) => new(*p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(RowScalar v, float* p) => *p = v._v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Create(float x) => new(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Add(RowScalar a, RowScalar b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Subtract(RowScalar a, RowScalar b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Multiply(RowScalar a, RowScalar b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Divide(RowScalar a, RowScalar b) => new(a._v / b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar MultiplyAdd(RowScalar a, RowScalar b, RowScalar c) => new(MathF.FusedMultiplyAdd(a._v, b._v, c._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Max(RowScalar a, RowScalar b) => new(float.Max(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar MaxNative(RowScalar a, RowScalar b) => new(a._v > b._v ? a._v : b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar SelectWhereEqual(RowScalar x, RowScalar y, RowScalar ifEqual, RowScalar otherwise) =>
        x._v == y._v ? ifEqual : otherwise;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint EqualsBits(RowScalar a, RowScalar b) => a._v == b._v ? 1u : 0u;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Exp(RowScalar v) => new(MathF.Exp(v._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Log(RowScalar v) => new(MathF.Log(v._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowScalar Tanh(RowScalar v) => new(MathF.Tanh(v._v));

    public static float MaxAcross(RowScalar v) => v._v;

    public static float SumAcross(RowScalar v) => v._v;
}
