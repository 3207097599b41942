/// The union of several sorted, duplicate-free lists of element positions, found by one k-way
/// merge: the sorted union, and for each list where each of its positions landed in it. The
/// merges scatter per-patch values through `slots` instead of looking positions up.
struct PositionUnion {
    /// Every position that occurs in any list, ascending.
    let positions: [Int]
    /// `slots[i][k]` is the index in `positions` of list i's k-th position.
    let slots: [[Int]]

    init(_ lists: [[Int]]) {
        var heads = [Int](repeating: 0, count: lists.count)
        var slots = lists.map { [Int](repeating: 0, count: $0.count) }
        var union: [Int] = []
        union.reserveCapacity(lists.map(\.count).max() ?? 0)
        while true {
            // The smallest head; lists are few (one per patch), so a scan beats a heap.
            var smallest = Int.max
            for (i, list) in lists.enumerated() where heads[i] < list.count {
                smallest = min(smallest, list[heads[i]])
            }
            if smallest == Int.max { break }
            let slot = union.count
            union.append(smallest)
            for i in lists.indices where heads[i] < lists[i].count && lists[i][heads[i]] == smallest {
                slots[i][heads[i]] = slot
                heads[i] += 1
            }
        }
        positions = union
        self.slots = slots
    }

    /// Positions that more than one list holds, counted once per extra holder.
    var sharedCount: Int { slots.reduce(0) { $0 + $1.count } - positions.count }
}

extension PositionUnion {
    /// The size of the union alone, without the slots.
    static func count(_ lists: [[Int]]) -> Int {
        var heads = [Int](repeating: 0, count: lists.count)
        var count = 0
        while true {
            var smallest = Int.max
            for (i, list) in lists.enumerated() where heads[i] < list.count { smallest = min(smallest, list[heads[i]]) }
            if smallest == Int.max { return count }
            count += 1
            for i in lists.indices where heads[i] < lists[i].count && lists[i][heads[i]] == smallest { heads[i] += 1 }
        }
    }
}
