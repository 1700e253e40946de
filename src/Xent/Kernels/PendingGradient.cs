using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Xent.Kernels;

/// <summary>A float32 class-target row's gradient a·e_c + b·w_c (the target's own element apart) held back, so that
/// the next row's exp pass writes it 64 elements a step beside its exps (<see cref="Step"/>) and <see cref="Finish"/>
/// writes what is left: the stores then overlap the next row's exps instead of following them. float32 forward+backward,
/// the two ways alternated call by call in one process (median ratio of 40–100 pairs): 16384 × 1000 0.93–0.97 of the
/// time on one thread and 0.94 on two, 4096 × 32000 0.98 on two. The values are those of
/// <see cref="FloatRows.Affine(float*, int, float, float, float*, float*, bool)"/>, bit for bit. float16 and bfloat16
/// rows measured 8–10% slower this way (their narrowing crowds the exp loop) and write their gradient after their own
/// exps.</summary>
internal unsafe struct PendingGradient
{
    /// <summary>Elements per <see cref="Step"/>: one 64-element step of the exp pass.</summary>
    public const int StepElements = 64;

    private float* _e;
    private float* _dst;
    private float* _w;
    private float _a, _b;
    private int _n;
    private int _start;
    private int _end;
    private bool _nonTemporal;
    private int _target;
    private float _targetValue;

    /// <summary>Whether a row is waiting to be written.</summary>
    public readonly bool Active => _e != null;

    /// <summary>Holds back row <paramref name="dst"/> (n elements): a·e_c + b·w_c (b alone when <paramref name="w"/> is
    /// null) from the exps <paramref name="e"/>, which must stay untouched until <see cref="Finish"/>, and
    /// <paramref name="targetValue"/> at <paramref name="target"/>. Streamed (<paramref name="nonTemporal"/>) from the
    /// first whole 64-byte line on.</summary>
    public void Set(float* e, float* dst, int n, float a, float b, float* w, bool nonTemporal, int target, float targetValue)
    {
        _e = e;
        _dst = dst;
        _n = n;
        _a = a;
        _b = b;
        _w = w;
        _nonTemporal = nonTemporal;
        _target = target;
        _targetValue = targetValue;
        _start = nonTemporal ? (int)((64 - ((nuint)dst & 63)) & 63) / sizeof(float) : 0;
        _end = _start;
    }

    /// <summary>Writes the 64 elements from the first streamed one + <paramref name="j"/> when they lie inside the row;
    /// the exp pass calls it at each of its 64-element steps j = 0, 64, 128, … of a row as long as this one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Step(int j)
    {
        int k = _start + j;
        if (k > _n - StepElements)
        {
            return;
        }

        Vector512<float> va = Vector512.Create(_a), vb = Vector512.Create(_b);
        float* e = _e + k;
        float* w = _w == null ? null : _w + k;
        float* d = _dst + k;
        for (int q = 0; q < StepElements; q += 16)
        {
            Vector512<float> r = Avx512F.FusedMultiplyAdd(Vector512.Load(e + q), va, w == null ? vb : Vector512.Load(w + q) * vb);
            if (_nonTemporal)
            {
                Avx512F.StoreAlignedNonTemporal(d + q, r);
            }
            else
            {
                r.Store(d + q);
            }
        }

        _end = k + StepElements;
    }

    /// <summary>Writes what the steps did not (the elements before the first line and after the last step, or the whole
    /// row) and the target's element; then nothing is pending.</summary>
    public void Finish()
    {
        if (_e == null)
        {
            return;
        }

        FloatRows.Affine(_e, _start, _a, _b, _w, _dst, false);
        FloatRows.Affine(_e + _end, _n - _end, _a, _b, _w == null ? null : _w + _end, _dst + _end, _nonTemporal);
        _dst[_target] = _targetValue;
        _e = null;
    }
}
