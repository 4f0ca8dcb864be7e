import SiapFFI
import SwiftUI

private let indonesia = Locale(identifier: "id_ID")

/// Rupiah without decimals, e.g. "Rp 150.000".
func rupiah(_ amount: UInt64) -> String {
    let format = NumberFormatter()
    format.numberStyle = .currency
    format.locale = indonesia
    format.maximumFractionDigits = 0
    return format.string(from: NSNumber(value: amount)) ?? "Rp \(amount)"
}

/// A time from the core (a `Date`), in the phone's time zone.
func date(_ at: Date) -> String {
    at.formatted(.dateTime.locale(indonesia))
}

/// Permits cached on the phone (signed by the city, re-verified by the core): type, office, status, the
/// official fee, the deadline and whether it is overdue (the core decides, at its trusted time). Tap for the
/// timeline. Loaded in `.task`, which SwiftUI cancels when the view disappears.
struct PermitsView: View {
    let core: SiapCore
    @State private var permits: [PermitInfo] = []
    @State private var error: String?

    var body: some View {
        NavigationStack {
            List(permits, id: \.permitId) { permit in
                NavigationLink(value: permit.permitId) {
                    VStack(alignment: .leading) {
                        HStack {
                            Text(permit.permitType).font(.headline)
                            Spacer()
                            if permit.overdue { Text("TERLAMBAT").foregroundColor(.red) }
                        }
                        Text("\(permit.office) · \(permit.status.label)")
                        Text("Biaya resmi: \(rupiah(permit.officialFeeIdr))")
                        Text("Batas waktu: \(date(permit.deadline))")
                    }
                }
            }
            .navigationDestination(for: String.self) { PermitDetail(core: core, permitId: $0) }
            .overlay { if let error { Text(error).padding() } else if permits.isEmpty { Text("Belum ada izin. Sinkronkan dulu.") } }
            .navigationTitle("Izin")
        }
        .task { await load() }
        .refreshable { await load() }
    }

    private func load() async {
        do {
            permits = try await offMain { try core.permits() }
            error = nil
        } catch { self.error = describe(error) }
    }
}

/// Detail from `permit(id)`, so the timeline is re-verified at the moment it is shown.
struct PermitDetail: View {
    let core: SiapCore
    let permitId: String
    @State private var permit: PermitInfo?
    @State private var error: String?

    var body: some View {
        List {
            if let error { Text(error) }
            ForEach(Array((permit?.timeline ?? []).enumerated()), id: \.offset) { _, step in
                VStack(alignment: .leading) {
                    Text("\(date(step.at)) · \(step.status.label)").font(.headline)
                    Text(step.note)
                }
            }
        }
        .navigationTitle(permit?.permitType ?? permitId)
        .task {
            do { permit = try await offMain { try core.permit(permitId: permitId) } }
            catch { self.error = describe(error) }
        }
    }
}
