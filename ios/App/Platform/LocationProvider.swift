import CoreLocation
import SiapFFI

/// One fresh CoreLocation fix as the core's `LocationFix`, with the simulated-location flag (the core
/// decides what a mock fix means).
@MainActor
final class LocationProvider: NSObject, CLLocationManagerDelegate {
    private let manager = CLLocationManager()
    private var waiting: [CheckedContinuation<LocationFix?, Never>] = []

    override init() {
        super.init()
        manager.delegate = self
        manager.desiredAccuracy = kCLLocationAccuracyBest
    }

    func requestPermission() { manager.requestWhenInUseAuthorization() }

    /// Nil when no fix could be had (no permission, no signal).
    func current() async -> LocationFix? {
        await withCheckedContinuation { continuation in
            waiting.append(continuation)
            manager.requestLocation()
        }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        let fix = locations.last.map(Self.fix)
        Task { @MainActor in self.finish(fix) }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didFailWithError error: Error) {
        Task { @MainActor in self.finish(nil) }
    }

    private func finish(_ fix: LocationFix?) {
        let done = waiting
        waiting = []
        done.forEach { $0.resume(returning: fix) }
    }

    nonisolated static func fix(_ location: CLLocation) -> LocationFix {
        LocationFix(
            latitude: location.coordinate.latitude,
            longitude: location.coordinate.longitude,
            accuracyM: location.horizontalAccuracy >= 0 ? location.horizontalAccuracy : nil,
            time: location.timestamp, // the fix's own time, not when it was delivered
            provider: "corelocation",
            isMock: location.sourceInformation?.isSimulatedBySoftware ?? false
        )
    }
}
