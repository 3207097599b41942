extension Sequence where Element == Int {
    /// The sum, or `Int.max` where it would overflow: for totals of counts read from files
    /// (positions of every patch entry, elements of every tensor) shown in summaries. The
    /// readers bound each count by the bytes the file stores, so no real file reaches the
    /// limit; a hostile one gets a wrong-looking total instead of a trap.
    public func saturatingSum() -> Int {
        var total = 0
        for value in self {
            let (sum, overflow) = total.addingReportingOverflow(value)
            if overflow { return value < 0 ? Int.min : Int.max }
            total = sum
        }
        return total
    }
}
