import Foundation

/// The colour scales of the audit report's pictures. Untouched tensors are grey, which
/// neither scale reaches, so "not in the patch" never reads as "changed a little".
enum AuditColors {
    static let untouched = "#d4d4d4"
    /// Whole-tensor entries (add, replace, remove): no relative size to shade by.
    static let whole = "#7b5ea7"
    /// Changed, but by how much is not known (a mask, no values, or a base that differs).
    static let unknown = "#ffffff"

    /// Pale yellow to deep red (ColorBrewer YlOrRd), for the size of the change.
    static let change: [(Double, Double, Double)] = [
        (255, 255, 178), (254, 204, 92), (253, 141, 60), (240, 59, 32), (189, 0, 38),
    ]
    /// Pale to deep blue (ColorBrewer Blues), for density, so the two views are not confused.
    static let density: [(Double, Double, Double)] = [
        (239, 243, 255), (189, 215, 231), (107, 174, 214), (49, 130, 189), (8, 81, 156),
    ]

    /// The colour at `t` (0...1, clamped) along `stops`, interpolated linearly in RGB.
    static func ramp(_ t: Double, _ stops: [(Double, Double, Double)]) -> String {
        let x = min(1, max(0, t.isNaN ? 0 : t)) * Double(stops.count - 1)
        let i = min(stops.count - 2, Int(x))
        let f = x - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * f).rounded()) }
        return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// Density on a square-root scale, so 1 % and 10 % stay distinguishable.
    static func density(_ share: Double) -> String { ramp(share.squareRoot(), density) }
}

/// A logarithmic scale over whole decades, fitted to the relative changes shown: relative
/// changes of one patch can span several decades (embeddings barely move, a head moves a
/// lot), which a linear scale would flatten into one colour.
struct DecadeScale {
    /// log10 of the lowest and highest ends, whole numbers, at least two decades apart.
    let low: Int, high: Int

    /// The scale covering every positive value of `values`; 1e-4 ... 1e-2 when there is none.
    init(fitting values: [Double]) {
        let positive = values.filter { $0 > 0 && $0.isFinite }
        guard let smallest = positive.min(), let largest = positive.max() else {
            low = -4
            high = -2
            return
        }
        high = Int(log10(largest).rounded(.up))
        low = min(Int(log10(smallest).rounded(.down)), high - 2)
    }

    /// Position of `value` on the scale, 0 at 10^low, 1 at 10^high, clamped.
    func position(_ value: Double) -> Double {
        guard value > 0 else { return 0 }
        return min(1, max(0, (log10(value) - Double(low)) / Double(high - low)))
    }

    func color(_ value: Double) -> String { AuditColors.ramp(position(value), AuditColors.change) }

    /// The decades, as the values 10^low ... 10^high.
    var decades: [Double] { (low...high).map { pow(10, Double($0)) } }
}
